"""Cases (相談ケース): the person, the case, its history."""
