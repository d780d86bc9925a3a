"""The error codes the dialer app answers with (none shared)."""

BAD_PASSWORD = "bad_password"  # the API password given cannot be used
LOGIN_FAILED = "login_failed"  # VICIdial refused the API user
NO_PASSWORD = "no_password"
SERVER_PAUSED = "server_paused"  # paused (a login problem) or inactive: nothing may call it
