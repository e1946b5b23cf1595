"""The local stack (`integrations dev up`), its services and demo data. Development only."""
