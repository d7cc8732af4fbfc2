"""printgw: the on-premises printer fleet gateway."""
