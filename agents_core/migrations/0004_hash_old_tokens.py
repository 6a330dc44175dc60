from django.db import migrations


def hash_existing_tokens(apps, schema_editor):
    """DRF's plaintext tokens (rest_framework.authtoken, no longer installed) become hashed
    API tokens that keep working for 90 days; the plaintext rows are deleted."""
    from datetime import timedelta

    from django.utils import timezone
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("agents_core", "ApiToken")
    expiry = timezone.now() + timedelta(days=90)
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id FROM authtoken_token")
        rows = cursor.fetchall()
        ApiToken.objects.bulk_create(
            [
                ApiToken(
                    digest=hash_token(key), token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH], user_id=user_id,
                    expiry=expiry, name="migrated from the old plaintext token",
                )
                for key, user_id in rows
            ]
        )
        cursor.execute("DELETE FROM authtoken_token")


def csm_group_manages_own_tokens(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(apps, "CSM", "agents_core", ["view_apitoken", "add_apitoken", "delete_apitoken"])


class Migration(migrations.Migration):
    dependencies = [
        ("agents_core", "0003_api_tokens"),
        # grant_to_group makes content types and permissions: their tables must be current.
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(hash_existing_tokens, migrations.RunPython.noop),
        migrations.RunPython(csm_group_manages_own_tokens, migrations.RunPython.noop),
    ]
