from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "bcrm.web"
    verbose_name = "Web"

    def ready(self) -> None:
        from bcrm.core import schedule

        # Every worker, when it starts and on each tick: queue entries left RUNNING by a worker that stopped
        # beating are marked FAILED (bcrm.core.heartbeat); the apps' own sweeps requeue what is safe.
        schedule.register("queue.heartbeat", _sweep_queue)


def _sweep_queue() -> list[str]:
    from bcrm.core.heartbeat import sweep_queue

    sweep_queue()
    return []
