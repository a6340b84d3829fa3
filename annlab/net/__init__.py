"""The network definitions both wings share: activations, inits, the MLP, and the mean-field theory."""
