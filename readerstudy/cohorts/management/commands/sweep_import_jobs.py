"""python manage.py sweep_import_jobs: recover import jobs that lost their worker, tidy up.

Workers run the same sweep at start and periodically; this command is for cron or by hand.
"""

from django.core.management.base import BaseCommand

from readerstudy.cohorts.services import import_job_sweep


class Command(BaseCommand):
    help = (
        "Resume (or fail) import jobs whose worker stopped, queue again jobs whose task message "
        "was lost, and remove work folders and uploaded archives that ended jobs left behind."
    )

    def handle(self, *args: object, **options: object) -> None:
        report = import_job_sweep()
        self.stdout.write(
            f"resumed {len(report.resumed)} job(s) {list(report.resumed)}, "
            f"failed {len(report.failed)} job(s) {list(report.failed)}, "
            f"queued {len(report.requeued)} waiting job(s) again {list(report.requeued)}, "
            f"removed {report.folders_removed} work folder(s) and "
            f"{report.archives_removed} archive(s)"
        )
