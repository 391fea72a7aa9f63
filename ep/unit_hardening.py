"""The hardening every EP systemd unit carries: the web unit and each batch's service.

deploy/systemd/*.service end their [Service] section with this block, and a generator of
batch units appends it as it is, so every unit is hardened the same way.
`systemd-analyze security` rates a unit with it 1.3 (9.2 without); the tests check both.
"""

SYSTEMD_HARDENING = """
# Hardening: the same block in every EP unit (ep-web.service and each batch). EP reads
# /etc/ep and /opt/ep, writes only /var/lib/ep (StateDirectory: point ep.ini's SQLite
# file, inbox and outbox folders there), talks TCP to PostgreSQL, SMTP, the SMS gateway
# and its clients, and needs no privilege. `systemd-analyze security` rates it below 4.
StateDirectory=ep
UMask=0027
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
PrivateUsers=yes
ProtectSystem=strict
ProtectHome=yes
ProtectProc=invisible
ProcSubset=pid
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
LockPersonality=yes
RemoveIPC=yes
KeyringMode=private
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
"""
