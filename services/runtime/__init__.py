"""What every vodmesh service shares: settings, server bootstrap, errors, validation, logging,
metrics, database sessions and migrations, events, outbound channels."""
