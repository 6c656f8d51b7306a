//! Releases: immutable, versioned snapshots of every published table, cut from a fresh
//! rebuild in one transaction, stored in the database (so that every process serves the same
//! bytes) and never changed afterwards.

use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{build, read};
use crate::db::backend_specific::{self, LockableTable};
use crate::db::schema::{open_data_release_files as files, open_data_releases as releases};
use crate::db::{self, DbConn};
use crate::domain::open_data::catalog::{Table, TABLES};
use crate::domain::open_data::package::{descriptor, PackageFacts};
use crate::domain::open_data::query::ListQuery;
use crate::services::error::ServiceError;
use crate::services::open_data::OpenDataSettings;

/// Rows read per query while a table is written out.
const READ_PAGE_ROWS: i64 = 10_000;

/// One file of a release as its manifest lists it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FileEntry {
    /// The file's name in the release (`funds.csv`, `datapackage.json`, `SHA256SUMS`,
    /// the zip).
    pub name: String,
    /// Its media type, such as `text/csv; charset=utf-8`.
    pub media_type: String,
    /// Its size in bytes.
    pub bytes: i64,
    /// SHA-256 of its content, lowercase hex.
    pub sha256: String,
}

/// What a release holds: its version, when it was cut, its licence and files.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    /// The release's version: its UTC date and a sequence number for the day
    /// (`2026-10-28.1`).
    pub version: String,
    /// When the release was cut, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub released_at: String,
    /// Name of the licence the data is published under.
    pub licence: String,
    /// Counts from 1 to k−1 were withheld.
    pub k: i64,
    /// Rows per table.
    pub rows: std::collections::BTreeMap<String, usize>,
    /// Every file of the release: one CSV per table, the data package descriptor,
    /// `SHA256SUMS` and the zip of them all.
    pub files: Vec<FileEntry>,
}

struct File {
    name: String,
    media_type: &'static str,
    content: Vec<u8>,
}

impl File {
    fn entry(&self) -> FileEntry {
        FileEntry {
            name: self.name.clone(),
            media_type: self.media_type.to_owned(),
            bytes: self.content.len() as i64,
            sha256: hex::encode(Sha256::digest(&self.content)),
        }
    }
}

/// The name of a release's zip of all its files.
pub fn zip_name(version: &str) -> String {
    format!("cofund-open-data-{version}.zip")
}

/// Rebuilds the published tables and cuts a release of them, as `by` (who is recorded, never
/// published).
pub fn cut(
    conn: &mut DbConn,
    settings: &OpenDataSettings,
    now: NaiveDateTime,
    by: &str,
) -> Result<Manifest, ServiceError> {
    cut_with_progress(conn, settings, now, by, &|_| {})
}

/// How many steps [`cut_with_progress`] tells of: the rebuild, each table, the package.
pub fn cut_steps() -> u64 {
    TABLES.len() as u64 + 2
}

/// [`cut`], telling `step` what it starts, in [`cut_steps`] steps.
pub fn cut_with_progress(
    conn: &mut DbConn,
    settings: &OpenDataSettings,
    now: NaiveDateTime,
    by: &str,
    step: &dyn Fn(&str),
) -> Result<Manifest, ServiceError> {
    db::write_tx(conn, |conn| {
        backend_specific::lock_row_for_update(conn, LockableTable::PublishedTables, "funds")?;
        step("rebuilding the published tables");
        let report = build::rebuild_locked(conn, settings.rules(), now)?;
        let version = next_version(conn, now.date())?;
        let mut out = Vec::new();
        for table in TABLES {
            step(&format!("writing {}.csv", table.name));
            out.push(File {
                name: format!("{}.csv", table.name),
                media_type: "text/csv; charset=utf-8",
                content: whole_csv(conn, table)?.into_bytes(),
            });
        }
        let entries: Vec<FileEntry> = out.iter().map(File::entry).collect();
        let file_of = |t: &Table| {
            entries
                .iter()
                .find(|e| e.name == format!("{}.csv", t.name))
                .map(|e| (e.bytes as usize, e.sha256.clone()))
        };
        let package = descriptor(&PackageFacts {
            licence: settings.licence,
            version: Some(&version),
            modified: Some(now),
            k: settings.k,
            files: &file_of,
        });
        out.push(File {
            name: "datapackage.json".into(),
            media_type: "application/json",
            content: serde_json::to_vec_pretty(&package).expect("a descriptor serialises"),
        });
        let sums: String = out
            .iter()
            .map(|f| format!("{}  {}\n", f.entry().sha256, f.name))
            .collect();
        out.push(File {
            name: "SHA256SUMS".into(),
            media_type: "text/plain; charset=utf-8",
            content: sums.into_bytes(),
        });
        step("packaging the release");
        let zipped = zip_of(&out)?;
        out.push(File {
            name: zip_name(&version),
            media_type: "application/zip",
            content: zipped,
        });
        let manifest = Manifest {
            version: version.clone(),
            released_at: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            licence: settings.licence.name.to_owned(),
            k: settings.k,
            rows: report
                .rows
                .iter()
                .map(|(t, n)| (t.to_string(), *n))
                .collect(),
            files: out.iter().map(File::entry).collect(),
        };
        store(conn, &manifest, &out, now, by)?;
        Ok(manifest)
    })
}

/// `2026-12-01.1`, `.2`, …: the date of the release and its number that day.
fn next_version(conn: &mut DbConn, day: NaiveDate) -> Result<String, ServiceError> {
    let prefix = format!("{day}.");
    let taken: i64 = releases::table
        .filter(releases::version.like(format!("{prefix}%")))
        .count()
        .get_result(conn)?;
    Ok(format!("{prefix}{}", taken + 1))
}

/// A table as one CSV file: the header of machine names, then every row in key order.
fn whole_csv(conn: &mut DbConn, table: &Table) -> Result<String, ServiceError> {
    let mut text = String::new();
    read::write_csv(
        conn,
        table,
        &ListQuery::whole_table(),
        READ_PAGE_ROWS,
        |chunk| {
            text.push_str(&chunk);
            true
        },
    )?;
    Ok(text)
}

/// The files in one zip, with fixed timestamps so that the same files make the same bytes.
fn zip_of(files: &[File]) -> Result<Vec<u8>, ServiceError> {
    let failed = |e: &dyn std::fmt::Display| ServiceError::Internal(format!("zip: {e}"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for file in files {
        zip.start_file(file.name.as_str(), options)
            .map_err(|e| failed(&e))?;
        zip.write_all(&file.content).map_err(|e| failed(&e))?;
    }
    Ok(zip.finish().map_err(|e| failed(&e))?.into_inner())
}

fn store(
    conn: &mut DbConn,
    manifest: &Manifest,
    out: &[File],
    now: NaiveDateTime,
    by: &str,
) -> Result<(), ServiceError> {
    diesel::insert_into(releases::table)
        .values((
            releases::version.eq(&manifest.version),
            releases::released_at.eq(now),
            releases::released_by.eq(by),
            releases::manifest.eq(serde_json::to_string(manifest).expect("a manifest serialises")),
        ))
        .execute(conn)?;
    for file in out {
        let entry = file.entry();
        diesel::insert_into(files::table)
            .values((
                files::version.eq(&manifest.version),
                files::name.eq(&entry.name),
                files::media_type.eq(&entry.media_type),
                files::sha256.eq(&entry.sha256),
                files::byte_count.eq(entry.bytes),
                files::content.eq(&file.content),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Every release's manifest, newest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<Manifest>, ServiceError> {
    let stored: Vec<String> = releases::table
        .order(releases::released_at.desc())
        .then_order_by(releases::version.desc())
        .select(releases::manifest)
        .load(conn)?;
    stored.iter().map(|m| parse_manifest(m)).collect()
}

pub fn manifest(conn: &mut DbConn, version: &str) -> Result<Option<Manifest>, ServiceError> {
    let stored: Option<String> = releases::table
        .find(version)
        .select(releases::manifest)
        .first(conn)
        .optional()?;
    stored.map(|m| parse_manifest(&m)).transpose()
}

fn parse_manifest(stored: &str) -> Result<Manifest, ServiceError> {
    serde_json::from_str(stored).map_err(|e| {
        ServiceError::Internal(format!("a stored release manifest is unreadable: {e}"))
    })
}

/// A release's file: its media type, SHA-256 and bytes.
pub fn file(
    conn: &mut DbConn,
    version: &str,
    name: &str,
) -> Result<Option<(String, String, Vec<u8>)>, ServiceError> {
    Ok(files::table
        .find((version, name))
        .select((files::media_type, files::sha256, files::content))
        .first(conn)
        .optional()?)
}
