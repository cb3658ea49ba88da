"""The catalog service: titles, people, genres, maturity ratings and availability windows."""
