"""AccountsService over gRPC: thin. Read the verified caller, call the domain, wrap the result."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from vod.accounts.v1 import accounts_pb2 as pb
from vod.accounts.v1 import accounts_pb2_grpc

from services.accounts.domain import AccountsDomain
from services.runtime.identity import caller_from_context

__all__ = ["AccountsServicer"]

Context: TypeAlias = grpc.aio.ServicerContext


class AccountsServicer(accounts_pb2_grpc.AccountsServiceServicer):
    def __init__(self, domain: AccountsDomain) -> None:
        self._domain = domain

    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.LoginResponse:
        user, tokens = await self._domain.login(request.email, request.password, request.device_id)
        return pb.LoginResponse(user=user, tokens=tokens)

    async def IssueToken(
        self, request: pb.IssueTokenRequest, context: Context
    ) -> pb.IssueTokenResponse:
        tokens = await self._domain.issue_token(request, caller_from_context(context))
        return pb.IssueTokenResponse(tokens=tokens)

    async def RefreshToken(
        self, request: pb.RefreshTokenRequest, context: Context
    ) -> pb.RefreshTokenResponse:
        return pb.RefreshTokenResponse(tokens=await self._domain.refresh(request.refresh_token))

    async def GetJwks(self, request: pb.GetJwksRequest, context: Context) -> pb.GetJwksResponse:
        keys = [pb.JsonWebKey(**jwk) for jwk in self._domain.jwks()["keys"]]
        return pb.GetJwksResponse(keys=keys)

    async def GetUser(self, request: pb.GetUserRequest, context: Context) -> pb.GetUserResponse:
        user = await self._domain.get_user(request.name, caller_from_context(context))
        return pb.GetUserResponse(user=user)

    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Context
    ) -> pb.CreateUserResponse:
        user, profile = await self._domain.create_user(request, caller_from_context(context))
        return pb.CreateUserResponse(user=user, profile=profile)

    async def UpdateUser(
        self, request: pb.UpdateUserRequest, context: Context
    ) -> pb.UpdateUserResponse:
        user = await self._domain.update_user(request, caller_from_context(context))
        return pb.UpdateUserResponse(user=user)

    async def ListPlans(
        self, request: pb.ListPlansRequest, context: Context
    ) -> pb.ListPlansResponse:
        return pb.ListPlansResponse(plans=await self._domain.list_plans())

    async def CreateProfile(
        self, request: pb.CreateProfileRequest, context: Context
    ) -> pb.CreateProfileResponse:
        profile = await self._domain.create_profile(request, caller_from_context(context))
        return pb.CreateProfileResponse(profile=profile)

    async def GetProfile(
        self, request: pb.GetProfileRequest, context: Context
    ) -> pb.GetProfileResponse:
        profile = await self._domain.get_profile(request.name, caller_from_context(context))
        return pb.GetProfileResponse(profile=profile)

    async def ListProfiles(
        self, request: pb.ListProfilesRequest, context: Context
    ) -> pb.ListProfilesResponse:
        return await self._domain.list_profiles(request, caller_from_context(context))

    async def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: Context
    ) -> pb.UpdateProfileResponse:
        profile = await self._domain.update_profile(request, caller_from_context(context))
        return pb.UpdateProfileResponse(profile=profile)

    async def DeleteProfile(
        self, request: pb.DeleteProfileRequest, context: Context
    ) -> pb.DeleteProfileResponse:
        await self._domain.delete_profile(request.name, request.etag, caller_from_context(context))
        return pb.DeleteProfileResponse()

    async def RegisterDevice(
        self, request: pb.RegisterDeviceRequest, context: Context
    ) -> pb.RegisterDeviceResponse:
        device = await self._domain.register_device(request, caller_from_context(context))
        return pb.RegisterDeviceResponse(device=device)

    async def ListDevices(
        self, request: pb.ListDevicesRequest, context: Context
    ) -> pb.ListDevicesResponse:
        return await self._domain.list_devices(request, caller_from_context(context))

    async def DeleteDevice(
        self, request: pb.DeleteDeviceRequest, context: Context
    ) -> pb.DeleteDeviceResponse:
        await self._domain.delete_device(request.name, caller_from_context(context))
        return pb.DeleteDeviceResponse()
