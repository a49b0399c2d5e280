"""Storylines: the second level above stories. A story is one event; a
storyline is the sequence of stories of one ongoing development (a law and
its court fights, a negotiation, a summit). The linking rule and its
checkpoints (``linking``), stable ids over a re-cluster (``ids``) and how a
storyline names itself (``labels``)."""
