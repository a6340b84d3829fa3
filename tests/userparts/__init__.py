"""A user's own parts, as a researcher would write them: activations for the bring-your-own tests."""
