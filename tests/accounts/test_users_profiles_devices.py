"""Users, plans, profiles and devices over a real channel to the production server, with the
identity headers the front door would set. Asserts on decoded google.rpc details."""

from __future__ import annotations

import hashlib

import grpc
import pytest
from google.protobuf import field_mask_pb2
from vod.accounts.v1 import accounts_pb2 as pb

from services.accounts.domain import LIST_DEVICES_SCOPE, LIST_PROFILES_SCOPE
from tests.accounts.conftest import ADMIN_MD, PASSWORD, caller_md, new_email, sign_up, uid
from tests.runtime.test_page_tokens import assert_refused_page_token, forgeries
from tests.support import details_of


async def test_list_plans_cheapest_first(accounts) -> None:
    plans = (await accounts.ListPlans(pb.ListPlansRequest())).plans
    assert [
        (p.name, p.display_name, p.max_streams, p.max_resolution, p.monthly_price_minor)
        for p in plans
    ] == [
        ("plans/basic", "Basic", 1, 720, 799),
        ("plans/standard", "Standard", 2, 1080, 1549),
        ("plans/premium", "Premium", 4, 2160, 2299),
    ]
    assert {p.currency_code for p in plans} == {"USD"}


async def test_create_user_with_default_profile_then_get(accounts) -> None:
    email = f"Ada.{uid()}@Example.com"
    user_id = f"ada-{uid()}"
    created = await sign_up(accounts, email=email, user_id=user_id, plan="plans/premium")
    user = created.user
    assert user.name == f"users/{user_id}"
    assert (user.email, user.display_name, user.plan, user.home_region) == (
        email,
        "Ada Lovelace",
        "plans/premium",
        "GB",
    )
    assert list(user.roles) == []
    assert user.etag and user.create_time.seconds > 0
    assert created.profile.name == f"users/{user_id}/profiles/main"
    assert created.profile.display_name == "Ada Lovelace"
    assert created.profile.maturity_limit == pb.MATURITY_LIMIT_ALL

    got = await accounts.GetUser(pb.GetUserRequest(name=user.name), metadata=caller_md(user.name))
    assert got.user == user
    profiles = await accounts.ListProfiles(
        pb.ListProfilesRequest(parent=user.name), metadata=caller_md(user.name)
    )
    assert [p.name for p in profiles.profiles] == [created.profile.name]


async def test_generated_user_id_comes_from_the_email(accounts) -> None:
    created = await sign_up(accounts, email=f"Grace.Hopper+{uid()}@example.com")
    assert created.user.name.startswith("users/grace-hopper-")


async def test_create_user_rejects_bad_fields_with_violations(accounts) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.CreateUser(
            pb.CreateUserRequest(
                user=pb.User(email="not-an-email", display_name="", plan="gold", home_region="gb"),
                password="short",
            )
        )
    details = details_of(err.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violations == {
        "user.email": "must be an email address such as ada@example.com",
        "user.display_name": "is required and must not be blank",
        "user.plan": "must be a plan name such as plans/standard",
        "user.home_region": "must be an ISO 3166-1 alpha-2 code such as US",
        "password": "must be at least 8 characters, got 5",
    }


async def test_password_equal_to_email_and_unknown_region_are_rejected(accounts) -> None:
    email = new_email()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.CreateUser(
            pb.CreateUserRequest(
                user=pb.User(email=email, display_name="X", plan="plans/basic", home_region="XX"),
                password=email.upper(),
            )
        )
    details = details_of(err.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violations == {
        "password": "must not be the email address",
        "user.home_region": "'XX' is not an ISO 3166-1 code",
    }


async def test_duplicate_email_case_insensitive_and_user_id(accounts) -> None:
    email = new_email()
    first = await sign_up(accounts, email=email)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await sign_up(accounts, email=email.upper())
    details = details_of(err.value)
    assert (details.code, details.reason) == (grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await sign_up(accounts, user_id=first.user.name.removeprefix("users/"))
    details = details_of(err.value)
    assert (details.code, details.reason) == (grpc.StatusCode.ALREADY_EXISTS, "USER_ID_TAKEN")
    assert details.resource_name == first.user.name


async def test_unknown_plan_is_failed_precondition(accounts) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await sign_up(accounts, plan="plans/platinum")
    details = details_of(err.value)
    assert (details.code, details.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PLAN_NOT_FOUND")
    assert details.preconditions == ["PLAN_EXISTS"]


async def test_roles_need_an_admin_caller(accounts) -> None:
    request = pb.CreateUserRequest(
        user=pb.User(
            email=new_email(),
            display_name="Root",
            plan="plans/basic",
            home_region="US",
            roles=["admin"],
        ),
        password=PASSWORD,
    )
    for metadata in ((), caller_md("users/someone")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await accounts.CreateUser(request, metadata=metadata)
        details = details_of(err.value)
        assert (details.code, details.reason) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "ROLES_NEED_ADMIN",
        )
    created = await accounts.CreateUser(request, metadata=ADMIN_MD)
    assert list(created.user.roles) == ["admin"]


async def test_get_user_needs_the_owner_or_an_admin(accounts) -> None:
    user = (await sign_up(accounts)).user
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.GetUser(pb.GetUserRequest(name=user.name))
    assert details_of(err.value).code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.GetUser(pb.GetUserRequest(name=user.name), metadata=caller_md("users/eve"))
    details = details_of(err.value)
    assert (details.code, details.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWNER")
    got = await accounts.GetUser(pb.GetUserRequest(name=user.name), metadata=ADMIN_MD)
    assert got.user.name == user.name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.GetUser(pb.GetUserRequest(name="users/nobody-here"), metadata=ADMIN_MD)
    details = details_of(err.value)
    assert (details.code, details.resource_name) == (
        grpc.StatusCode.NOT_FOUND,
        "users/nobody-here",
    )


async def test_update_user_with_mask_and_etag(accounts) -> None:
    user = (await sign_up(accounts)).user
    md = caller_md(user.name)
    update = pb.User(
        name=user.name, display_name="Ada L.", plan="plans/basic", home_region="FR", etag=user.etag
    )
    updated = (
        await accounts.UpdateUser(
            pb.UpdateUserRequest(
                user=update, update_mask=field_mask_pb2.FieldMask(paths=["display_name", "plan"])
            ),
            metadata=md,
        )
    ).user
    assert (updated.display_name, updated.plan, updated.home_region) == (
        "Ada L.",
        "plans/basic",
        "GB",
    )
    assert updated.etag != user.etag

    with pytest.raises(grpc.aio.AioRpcError) as err:  # the old etag is stale now
        await accounts.UpdateUser(pb.UpdateUserRequest(user=update), metadata=md)
    details = details_of(err.value)
    assert (details.code, details.reason, details.resource_name) == (
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
        user.name,
    )

    # Empty mask: every mutable field that is set.
    again = (
        await accounts.UpdateUser(
            pb.UpdateUserRequest(user=pb.User(name=user.name, home_region="FR")), metadata=md
        )
    ).user
    assert (again.display_name, again.home_region) == ("Ada L.", "FR")

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(name=user.name, email="x@example.com"),
                update_mask=field_mask_pb2.FieldMask(paths=["email", "colour"]),
            ),
            metadata=md,
        )
    assert details_of(err.value).violations == {
        "update_mask.paths[0]": "'email' cannot be changed",
        "update_mask.paths[1]": "unknown field 'colour'; updatable: display_name, plan, home_region",
    }
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.UpdateUser(
            pb.UpdateUserRequest(user=pb.User(name=user.name, plan="plans/gold")), metadata=md
        )
    assert details_of(err.value).code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.UpdateUser(
            pb.UpdateUserRequest(user=pb.User(name=user.name, display_name="Eve")),
            metadata=caller_md("users/eve"),
        )
    assert details_of(err.value).code == grpc.StatusCode.PERMISSION_DENIED


async def test_profiles_crud_limits_and_last_profile(accounts) -> None:
    created = await sign_up(accounts)
    user = created.user.name
    md = caller_md(user)
    kids = (
        await accounts.CreateProfile(
            pb.CreateProfileRequest(
                parent=user,
                profile=pb.Profile(
                    display_name="Kids",
                    maturity_limit=pb.MATURITY_LIMIT_LITTLE_KIDS,
                    language="pt-BR",
                    preferred_genres=["Kids' TV"],
                    avatar_uri="https://img.example/kids.png",
                    autoplay_next_episode=True,
                ),
                profile_id="kids",
            ),
            metadata=md,
        )
    ).profile
    assert kids.name == f"{user}/profiles/kids"
    assert (kids.maturity_limit, kids.language, list(kids.preferred_genres)) == (
        pb.MATURITY_LIMIT_LITTLE_KIDS,
        "pt-BR",
        ["Kids' TV"],
    )
    got = await accounts.GetProfile(pb.GetProfileRequest(name=kids.name), metadata=md)
    assert got.profile == kids

    with pytest.raises(grpc.aio.AioRpcError) as err:  # same id
        await accounts.CreateProfile(
            pb.CreateProfileRequest(
                parent=user, profile=pb.Profile(display_name="Other"), profile_id="kids"
            ),
            metadata=md,
        )
    assert details_of(err.value).code == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as err:  # same display name, any case
        await accounts.CreateProfile(
            pb.CreateProfileRequest(parent=user, profile=pb.Profile(display_name="KIDS")),
            metadata=md,
        )
    assert details_of(err.value).reason == "PROFILE_NAME_TAKEN"

    for name in ("Teen One", "Guest", "Gran"):
        made = await accounts.CreateProfile(
            pb.CreateProfileRequest(parent=user, profile=pb.Profile(display_name=name)),
            metadata=md,
        )
        assert made.profile.name == f"{user}/profiles/{name.lower().replace(' ', '-')}"
        assert made.profile.maturity_limit == pb.MATURITY_LIMIT_ALL  # unset means ALL
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the sixth
        await accounts.CreateProfile(
            pb.CreateProfileRequest(parent=user, profile=pb.Profile(display_name="Sixth")),
            metadata=md,
        )
    details = details_of(err.value)
    assert (details.code, details.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "PROFILE_LIMIT")

    # Pages of 2, in creation order.
    seen, token = [], ""
    while True:
        page = await accounts.ListProfiles(
            pb.ListProfilesRequest(parent=user, page_size=2, page_token=token), metadata=md
        )
        seen.extend(p.name.rsplit("/", 1)[1] for p in page.profiles)
        token = page.next_page_token
        if not token:
            break
    assert seen == ["main", "kids", "teen-one", "guest", "gran"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.ListProfiles(
            pb.ListProfilesRequest(parent=created.user.name, page_token="garbage!"), metadata=md
        )
    assert list(details_of(err.value).violations) == ["page_token"]

    # Update with etag, then a stale etag.
    updated = (
        await accounts.UpdateProfile(
            pb.UpdateProfileRequest(
                profile=pb.Profile(
                    name=kids.name, maturity_limit=pb.MATURITY_LIMIT_OLDER_KIDS, etag=kids.etag
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["maturity_limit"]),
            ),
            metadata=md,
        )
    ).profile
    assert updated.maturity_limit == pb.MATURITY_LIMIT_OLDER_KIDS
    assert updated.display_name == "Kids"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.UpdateProfile(
            pb.UpdateProfileRequest(
                profile=pb.Profile(name=kids.name, etag=kids.etag, language="en")
            ),
            metadata=md,
        )
    assert details_of(err.value).code == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.DeleteProfile(
            pb.DeleteProfileRequest(name=kids.name, etag=kids.etag), metadata=md
        )
    assert details_of(err.value).code == grpc.StatusCode.ABORTED
    await accounts.DeleteProfile(
        pb.DeleteProfileRequest(name=kids.name, etag=updated.etag), metadata=md
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.GetProfile(pb.GetProfileRequest(name=kids.name), metadata=md)
    assert details_of(err.value).reason == "PROFILE_NOT_FOUND"

    for name in ("teen-one", "guest", "gran"):
        await accounts.DeleteProfile(
            pb.DeleteProfileRequest(name=f"{user}/profiles/{name}"), metadata=md
        )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.DeleteProfile(
            pb.DeleteProfileRequest(name=f"{user}/profiles/main"), metadata=md
        )
    details = details_of(err.value)
    assert (details.code, details.reason, details.preconditions) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "LAST_PROFILE",
        ["LAST_PROFILE"],
    )


async def test_another_users_profile_is_permission_denied(accounts) -> None:
    ada = await sign_up(accounts)
    eve = await sign_up(accounts)
    eve_md = caller_md(eve.user.name)
    calls = [
        accounts.GetProfile(pb.GetProfileRequest(name=ada.profile.name), metadata=eve_md),
        accounts.UpdateProfile(
            pb.UpdateProfileRequest(profile=pb.Profile(name=ada.profile.name, language="en")),
            metadata=eve_md,
        ),
        accounts.DeleteProfile(pb.DeleteProfileRequest(name=ada.profile.name), metadata=eve_md),
        accounts.ListProfiles(pb.ListProfilesRequest(parent=ada.user.name), metadata=eve_md),
        accounts.CreateProfile(
            pb.CreateProfileRequest(parent=ada.user.name, profile=pb.Profile(display_name="X")),
            metadata=eve_md,
        ),
        accounts.IssueToken(pb.IssueTokenRequest(profile=ada.profile.name), metadata=eve_md),
        accounts.ListDevices(pb.ListDevicesRequest(parent=ada.user.name), metadata=eve_md),
        accounts.RegisterDevice(
            pb.RegisterDeviceRequest(
                parent=ada.user.name,
                device=pb.Device(device_id="d1", type=pb.DEVICE_TYPE_WEB),
            ),
            metadata=eve_md,
        ),
        accounts.DeleteDevice(
            pb.DeleteDeviceRequest(name=f"{ada.user.name}/devices/d1"), metadata=eve_md
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        details = details_of(err.value)
        assert (details.code, details.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWNER")
    # An admin may act on anyone's profile.
    got = await accounts.GetProfile(pb.GetProfileRequest(name=ada.profile.name), metadata=ADMIN_MD)
    assert got.profile.name == ada.profile.name


async def test_profile_bad_input_has_field_violations(accounts) -> None:
    user = (await sign_up(accounts)).user.name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.CreateProfile(
            pb.CreateProfileRequest(
                parent=user,
                profile=pb.Profile(
                    display_name="",
                    maturity_limit=42,  # type: ignore[arg-type]
                    language="English!",
                    avatar_uri="ftp://x",
                ),
                profile_id="Bad_Id",
            ),
            metadata=caller_md(user),
        )
    violations = details_of(err.value).violations
    assert set(violations) == {
        "profile.display_name",
        "profile.maturity_limit",
        "profile.language",
        "profile.avatar_uri",
        "profile_id",
    }
    assert violations["profile.avatar_uri"] == "must be an absolute http(s) URL"


async def test_devices_register_list_idempotent_limit_and_delete(accounts) -> None:
    user = (await sign_up(accounts)).user.name
    md = caller_md(user)
    tv = (
        await accounts.RegisterDevice(
            pb.RegisterDeviceRequest(
                parent=user,
                device=pb.Device(
                    device_id="TV_Living.Room:01",
                    type=pb.DEVICE_TYPE_TV,
                    display_name="Living room",
                ),
            ),
            metadata=md,
        )
    ).device
    assert tv.name.startswith(f"{user}/devices/tv-living-room-01-")
    assert (tv.device_id, tv.type, tv.display_name) == (
        "TV_Living.Room:01",
        pb.DEVICE_TYPE_TV,
        "Living room",
    )
    again = (
        await accounts.RegisterDevice(
            pb.RegisterDeviceRequest(
                parent=user, device=pb.Device(device_id="TV_Living.Room:01", type=pb.DEVICE_TYPE_TV)
            ),
            metadata=md,
        )
    ).device
    assert again == tv
    for index in range(19):
        made = await accounts.RegisterDevice(
            pb.RegisterDeviceRequest(
                parent=user,
                device=pb.Device(device_id=f"phone-{index}", type=pb.DEVICE_TYPE_MOBILE),
            ),
            metadata=md,
        )
        assert made.device.name == f"{user}/devices/phone-{index}"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.RegisterDevice(
            pb.RegisterDeviceRequest(
                parent=user, device=pb.Device(device_id="one-too-many", type=pb.DEVICE_TYPE_WEB)
            ),
            metadata=md,
        )
    details = details_of(err.value)
    assert (details.code, details.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "DEVICE_LIMIT")

    first = await accounts.ListDevices(
        pb.ListDevicesRequest(parent=user, page_size=15), metadata=md
    )
    second = await accounts.ListDevices(
        pb.ListDevicesRequest(parent=user, page_size=15, page_token=first.next_page_token),
        metadata=md,
    )
    assert len(first.devices) == 15 and len(second.devices) == 5
    assert second.next_page_token == ""
    names = [d.name for d in [*first.devices, *second.devices]]
    assert len(set(names)) == 20 and tv.name in names

    await accounts.DeleteDevice(pb.DeleteDeviceRequest(name=tv.name), metadata=md)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.DeleteDevice(pb.DeleteDeviceRequest(name=tv.name), metadata=md)
    details = details_of(err.value)
    assert (details.code, details.reason, details.resource_name) == (
        grpc.StatusCode.NOT_FOUND,
        "DEVICE_NOT_FOUND",
        tv.name,
    )

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.RegisterDevice(
            pb.RegisterDeviceRequest(parent=user, device=pb.Device(device_id="has space")),
            metadata=md,
        )
    assert details_of(err.value).violations == {
        "device.device_id": "must be letters, digits, and _ . : -",
        "device.type": "is required; one of DEVICE_TYPE_WEB, DEVICE_TYPE_TV, DEVICE_TYPE_MOBILE, "
        "DEVICE_TYPE_TABLET, DEVICE_TYPE_CONSOLE",
    }


async def test_forged_page_tokens_are_refused(accounts) -> None:
    """An offset forged with the unkeyed hash of the parent accounts used to check (or signed
    with anything but the deployment's secret) is INVALID_ARGUMENT on page_token."""
    created = await sign_up(accounts)
    user = created.user.name
    md = caller_md(user)
    old = {"f": hashlib.sha256(user.encode()).hexdigest()[:12], "o": 1}
    for scope, request, call in (
        (LIST_PROFILES_SCOPE, pb.ListProfilesRequest(parent=user), accounts.ListProfiles),
        (LIST_DEVICES_SCOPE, pb.ListDevicesRequest(parent=user), accounts.ListDevices),
    ):
        for token in forgeries(old, scope, request, {"o": 1}):
            forged = type(request)()
            forged.CopyFrom(request)
            forged.page_token = token
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(forged, metadata=md)
            assert_refused_page_token(err.value)
