"""The vodmesh service mesh: one typed spec, Envoy configuration rendered from it."""
