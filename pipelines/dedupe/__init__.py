"""The dedupe stage: drops replays and stale versions, passes amendments, and recognises the
same seizure reported by two systems."""
