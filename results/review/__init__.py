"""QA review: QA's decisions on defects and parts, kept beside the model's own output."""
