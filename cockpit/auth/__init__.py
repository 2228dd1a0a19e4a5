"""Email authentication and endpoint checks per region (SPF, DKIM, DMARC, ...)."""
