"""`migrate bench`: sysbench in bare processes, VMs, containers and containers-in-a-VM, on one artifact."""
