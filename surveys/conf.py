"""Constants of the anonymity model that both apps rely on."""

# No wave may publish a group smaller than this, whatever an administrator configures.
MIN_K = 3
