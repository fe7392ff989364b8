//! Migrations roll back and forward cleanly on both backends.

use tandem_tests::{TestApp, on_both_backends};

on_both_backends!(
    migrations_roll_down_and_up_again,
    |app: TestApp| async move {
        let status = app.store.migration_status().await.unwrap();
        assert!(!status.is_empty());
        assert!(status.iter().all(|m| m.applied));
        let steps = status.len() as u32;
        app.store.migrate_down(Some(steps)).await.unwrap();
        assert!(
            app.store
                .migration_status()
                .await
                .unwrap()
                .iter()
                .all(|m| !m.applied)
        );
        assert!(!app.store.is_migrated().await.unwrap());
        app.store.migrate_up(None).await.unwrap();
        assert!(app.store.is_migrated().await.unwrap());
    }
);
