"""The accounts service: users, profiles, plans, devices, sign-in and the signed access tokens
(plus the JWKS) every other service trusts through the front door."""
