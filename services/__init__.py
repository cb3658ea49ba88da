"""vodmesh services: one package per service; `runtime` holds what they all share."""
