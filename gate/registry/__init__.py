"""Talking to registries: who we are (credentials), how we get in (auth), what we ask (client),
and resolving every unique reference once (resolve)."""
