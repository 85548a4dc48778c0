"""The live monitor's HTTP surface: its API (`api`, models in `models`) and pages (`web`)."""
