"""The route stage: who gets each event, in which form, on which basis; and the audit of it."""
