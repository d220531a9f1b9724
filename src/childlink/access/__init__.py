"""Who may see what: roles, agencies, jurisdictions, purposes, policy decisions and consent."""
