"""`soc hunt`: the forensic one-shot over a bundle of files (inputs, run, timeline)."""
