from services.runtime.migrations_env import run

run()
