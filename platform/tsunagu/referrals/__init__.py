"""Referrals (つなぎ, issue #20): partner organisations and their portal, referrals in, requests for cooperation
(支援の依頼) out, and the departments' early-detection flags for the 支援会議."""
