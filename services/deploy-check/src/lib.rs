//! Deployment checks. Everything lives in `tests/deploy.rs`: it validates `docker-compose.yml`
//! against the Compose Specification schema vendored in `ops/compose-spec.schema.json`, keeps
//! the zones apart, and checks the NATS and RabbitMQ configuration and the `custodyd`
//! subcommands used by compose and the systemd units against the code.
