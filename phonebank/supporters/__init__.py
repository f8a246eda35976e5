"""The shared supporter store. Other modules import ``phonebank.supporters.services``."""
