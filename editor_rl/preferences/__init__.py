"""Preferences: records, Bradley–Terry training, simulated raters, synthetic pairs. No Ray
(the service's store is the one exception, in ``store``)."""
