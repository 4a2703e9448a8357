"""Keeping the contest fair: captcha, rate limits, blocklists, the duplicate-prompt check."""
