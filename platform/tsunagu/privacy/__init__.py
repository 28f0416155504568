"""The person's rights and offboarding (issue #16): export, correction, retention, crypto-shredding."""
