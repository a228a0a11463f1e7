"""Several hosts, one schedule: singleton schedules fenced through Redis or etcd.

Imported only when the config has a `cluster:` section (the master's operations layer
and the command line do it lazily). May import `errors`, `wire`, `triggers`, `config`,
`worker` (the child-process basics), `lifecycle` (Helper, the service seam) and
`scheduling`; the engines' client libraries only in `redis_engine` and `etcd_engine`.
Parts: `slots` and `lease` (pure rules), `engine`, `redis_engine`, `etcd_engine`,
`coordinator` (the decisions), `helper` (the coordinator process), `link` (the master's
service), `fleet` (`status --cluster`).
"""
