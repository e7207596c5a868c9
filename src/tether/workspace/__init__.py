"""The workspace: tracking paths (add), comparing them (status), restoring them
(checkout) and untracking them (remove)."""
