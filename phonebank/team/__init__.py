"""Staff manage users and invite links."""
