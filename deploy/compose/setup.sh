#!/bin/sh
# Run once by the `setup` service: the CA (kept by kobe), three spaces, their certificates
# and their servers' configs, a hub cluster of three. Does nothing if already done.
set -eu
[ -f /data/kobe/server.toml ] && exit 0
hitode ca init --ca /data/kobe/ca
for s in kobe:172.28.0.11 sapporo:172.28.0.12 hakodate:172.28.0.13; do
  name=${s%%:*}; ip=${s#*:}
  hitode init --dir /data/$name --space $name --name "$name coworking" --http-host 0.0.0.0 --http-port 8700
  hitode ca issue --ca /data/kobe/ca --dir /data/$name --host $ip
done
hitode nats-config --dir /data/kobe --topology hub --address 172.28.0.11 --join-address 172.28.0.11:7480 \
  --member sapporo=172.28.0.12 --member hakodate=172.28.0.13
hitode nats-config --dir /data/sapporo --topology hub --address 172.28.0.12 \
  --member kobe=172.28.0.11 --member hakodate=172.28.0.13
hitode nats-config --dir /data/hakodate --topology hub --address 172.28.0.13 \
  --member kobe=172.28.0.11 --member sapporo=172.28.0.12
chown -R hitode:hitode /data
