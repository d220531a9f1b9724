"""Identity: accounts, web sessions, API tokens for people and API keys for department feeds."""
