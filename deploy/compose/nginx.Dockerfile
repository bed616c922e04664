# nginx for the cluster, from Debian 12's nginx-light package. The configuration is
# /etc/nginx/blindml.conf.template (mounted) with the ports filled in at start.
ARG BASE_IMAGE=blindml/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /etc/nginx/sites-enabled/*
STOPSIGNAL SIGQUIT
CMD ["bash", "-c", "sed -e \"s/@LB_PORT@/$BLINDML_LB_PORT/; s/@REPLICA1_PORT@/$BLINDML_REPLICA1_PORT/; s/@REPLICA2_PORT@/$BLINDML_REPLICA2_PORT/\" /etc/nginx/blindml.conf.template > /etc/nginx/nginx.conf && exec nginx -g 'daemon off;'"]
