"""The inbox: the HumanTask projection, queries, claim / assign / complete."""
