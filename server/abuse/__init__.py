"""Keeping the contest fair: captcha, rate limits (and the client address they count),
blocklists, the duplicate-prompt check."""
