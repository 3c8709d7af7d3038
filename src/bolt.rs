//! A read-only reader of bbolt files (the format of qrysm's `validator.db`), and a
//! small writer of fresh ones for the simulator.
//!
//! The reader works page by page through positioned reads ([`ReadAt`]): never the
//! whole file in memory, bounded work on any input (a page met twice in one walk is
//! an error, trees and bucket nesting have depth limits, a page is at most
//! [`MAX_PAGE_BYTES`]), and it never panics: every offset is checked against the
//! page and the file, and every problem is a [`BoltError`] naming the file, the page
//! and the offset.
//!
//! The format is bbolt's (go.etcd.io/bbolt, `page.go`, `db.go`, `bucket.go`), all
//! integers little-endian:
//! - page header (16 bytes): id u64, flags u16, count u16, overflow u32;
//! - meta (at byte 16 of pages 0 and 1): magic u32, version u32, page size u32,
//!   flags u32, root bucket (root page id u64, sequence u64), freelist page id u64,
//!   high-water page id u64, txid u64, checksum u64 (FNV-64a of the 56 bytes before);
//! - branch element (16 bytes): pos u32, key size u32, child page id u64;
//! - leaf element (16 bytes): flags u32 (0x01: a nested bucket), pos u32, key size
//!   u32, value size u32; `pos` counts from the element itself;
//! - a bucket's value: its root page id u64 and sequence u64; root 0 means an inline
//!   bucket, whose leaf page follows in the value itself.
//!
//! No crate fits: the one bbolt port on the registry (`bbolt-rs`) is a full
//! read-write database over mmap, without a stated licence, built to trust its file
//! (as bbolt does, it panics or faults on corrupt pages); this module must read an
//! untrusted copy of another host's file and say what is wrong with it.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// The bbolt meta-page magic, little-endian at byte 16 of pages 0 and 1.
pub const BBOLT_MAGIC: u32 = 0xED0C_DAED;
/// The only data-format version bbolt writes and reads.
pub const BBOLT_VERSION: u32 = 2;

pub const BRANCH_PAGE: u16 = 0x01;
pub const LEAF_PAGE: u16 = 0x02;
pub const META_PAGE: u16 = 0x04;
pub const FREELIST_PAGE: u16 = 0x10;
/// A leaf element's flag: its value is a nested bucket.
pub const BUCKET_LEAF_FLAG: u32 = 0x01;
/// bbolt's `pgidNoFreelist`: the freelist is not stored (`NoFreelistSync`).
pub const NO_FREELIST: u64 = u64::MAX;

const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BUCKET_HEADER: usize = 16;
const META_SIZE: usize = 64;
const META_SUM_LEN: usize = 56;
/// The deepest B+tree accepted (bbolt's trees of a 1 TiB file are under 10 deep).
pub const MAX_TREE_DEPTH: usize = 32;
/// The deepest nesting of buckets accepted (qrysm nests 3 deep).
pub const MAX_BUCKET_DEPTH: usize = 32;
/// The largest page (with its overflow pages) read into memory.
pub const MAX_PAGE_BYTES: u64 = 64 << 20;

/// Positioned reads: a file, or bytes in memory.
pub trait ReadAt {
    /// Fills `buf` from `offset`; an error when fewer bytes are there.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The size in bytes.
    fn size(&self) -> io::Result<u64>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl ReadAt for &[u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        let src = self.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl ReadAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

/// Where a page is: in the file, or inline in a bucket's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLoc {
    Disk(u64),
    /// An inline bucket's page, in the value at `offset` of page `in_page`.
    Inline {
        in_page: u64,
        offset: u64,
    },
}

impl fmt::Display for PageLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageLoc::Disk(id) => write!(f, "page {id}"),
            PageLoc::Inline { in_page, offset } => {
                write!(f, "inline bucket page in page {in_page} at offset {offset}")
            }
        }
    }
}

/// What is wrong with one meta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaProblem {
    Truncated { need: u64, have: u64 },
    NotMetaPage { flags: u16 },
    Magic { found: u32 },
    Version { found: u32 },
    PageSize { found: u32 },
    PageSizeDiffers { found: u32, other: u32 },
    Checksum { stored: u64, computed: u64 },
}

impl fmt::Display for MetaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaProblem::Truncated { need, have } => {
                write!(f, "is cut off (needs {need} bytes, the file has {have})")
            }
            MetaProblem::NotMetaPage { flags } => {
                write!(f, "is not a meta page (flags {flags:#06x})")
            }
            MetaProblem::Magic { found } => write!(
                f,
                "has the wrong magic {found:#010x} (bbolt's is {BBOLT_MAGIC:#010x}): not a bbolt file"
            ),
            MetaProblem::Version { found } => {
                write!(f, "has format version {found}, not {BBOLT_VERSION}")
            }
            MetaProblem::PageSize { found } => write!(
                f,
                "has an impossible page size {found} (a power of two from 512 to 65536)"
            ),
            MetaProblem::PageSizeDiffers { found, other } => {
                write!(f, "has page size {found}, the other meta page {other}")
            }
            MetaProblem::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"
            ),
        }
    }
}

/// Everything that can be wrong with a bbolt file, naming the file, page and offset.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: truncated: {what} needs {need} bytes, the file has {have}")]
    Truncated {
        file: String,
        what: String,
        need: u64,
        have: u64,
    },
    #[error("{file}: meta page {page} {problem}")]
    Meta {
        file: String,
        page: u8,
        problem: MetaProblem,
    },
    #[error("{file}: both meta pages are invalid: meta page 0 {meta0}; meta page 1 {meta1}")]
    BothMeta {
        file: String,
        meta0: MetaProblem,
        meta1: MetaProblem,
    },
    #[error("{file}: {page}: {problem}")]
    Page {
        file: String,
        page: PageLoc,
        problem: String,
    },
    #[error("{file}: {page}, offset {offset}: {problem}")]
    Element {
        file: String,
        page: PageLoc,
        offset: u64,
        problem: String,
    },
    #[error(
        "{file}: page {page} is met twice in one walk of bucket {bucket} (a cycle or a shared page)"
    )]
    Cycle {
        file: String,
        page: u64,
        bucket: String,
    },
    #[error("{file}: bucket {bucket}: {problem}")]
    Bucket {
        file: String,
        bucket: String,
        problem: String,
    },
}

/// One meta page, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// 0 or 1: which meta page.
    pub page: u8,
    pub page_size: u32,
    pub flags: u32,
    pub root: u64,
    pub sequence: u64,
    pub freelist: u64,
    /// bbolt's `pgid`: the high-water mark, one past the last page in use.
    pub high_water: u64,
    pub txid: u64,
    pub checksum: u64,
}

/// FNV-64a, as Go's `hash/fnv.New64a` (bbolt's `meta.sum64`).
pub fn fnv64a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn sane_page_size(ps: u32) -> bool {
    ps.is_power_of_two() && (512..=65536).contains(&ps)
}

/// Decodes and validates the meta struct of a meta page (`page`: the whole page or
/// at least its first 80 bytes).
fn parse_meta(index: u8, page: &[u8]) -> Result<Meta, MetaProblem> {
    if page.len() < PAGE_HEADER + META_SIZE {
        return Err(MetaProblem::Truncated {
            need: (PAGE_HEADER + META_SIZE) as u64,
            have: page.len() as u64,
        });
    }
    let m = &page[PAGE_HEADER..PAGE_HEADER + META_SIZE];
    let magic = u32_at(m, 0);
    if magic != BBOLT_MAGIC {
        return Err(MetaProblem::Magic { found: magic });
    }
    let flags = u16_at(page, 8);
    if flags & META_PAGE == 0 {
        return Err(MetaProblem::NotMetaPage { flags });
    }
    let version = u32_at(m, 4);
    if version != BBOLT_VERSION {
        return Err(MetaProblem::Version { found: version });
    }
    let page_size = u32_at(m, 8);
    if !sane_page_size(page_size) {
        return Err(MetaProblem::PageSize { found: page_size });
    }
    let checksum = u64_at(m, 56);
    let computed = fnv64a(&m[..META_SUM_LEN]);
    // bbolt accepts a zero checksum (files of its first versions had none).
    if checksum != 0 && checksum != computed {
        return Err(MetaProblem::Checksum {
            stored: checksum,
            computed,
        });
    }
    Ok(Meta {
        page: index,
        page_size,
        flags: u32_at(m, 12),
        root: u64_at(m, 16),
        sequence: u64_at(m, 24),
        freelist: u64_at(m, 32),
        high_water: u64_at(m, 40),
        txid: u64_at(m, 48),
        checksum,
    })
}

/// A page read into memory: its header and bytes (the whole page, overflow included).
#[derive(Debug, Clone)]
struct Page {
    loc: PageLoc,
    /// The page's own id (0 for an inline page).
    disk_id: u64,
    flags: u16,
    count: u16,
    data: Arc<[u8]>,
    /// Where `data` starts in its disk page (for offsets in messages): 0, or for an
    /// inline page the offset of its value in the page that holds it.
    base: u64,
}

/// An open bbolt file, read-only.
pub struct Db<R> {
    src: R,
    file: String,
    meta: Meta,
    file_size: u64,
    warnings: Vec<String>,
}

impl fmt::Debug for Dbg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
struct Dbg<'a>(&'a str);

impl<R> fmt::Debug for Db<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("file", &Dbg(&self.file))
            .field("meta", &self.meta)
            .field("file_size", &self.file_size)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl Db<File> {
    /// Opens a file read-only (no lock: bbolt's lock is advisory and this never writes).
    pub fn open(path: &Path) -> Result<Db<File>, BoltError> {
        let file = path.display().to_string();
        let f = File::open(path).map_err(|source| BoltError::Io {
            file: file.clone(),
            source,
        })?;
        Db::new(f, file)
    }
}

impl<'a> Db<&'a [u8]> {
    /// Reads bytes in memory (the simulator's DB), `name` for messages.
    pub fn from_bytes(bytes: &'a [u8], name: &str) -> Result<Db<&'a [u8]>, BoltError> {
        Db::new(bytes, name.to_string())
    }
}

impl<R: ReadAt> Db<R> {
    /// Reads and checks both meta pages, chooses the valid one with the higher txid
    /// (as bbolt does), and checks that its root and freelist pages are in the file.
    pub fn new(src: R, file: String) -> Result<Db<R>, BoltError> {
        let io = |source| BoltError::Io {
            file: file.clone(),
            source,
        };
        let file_size = src.size().map_err(io)?;
        let head_len = file_size.min(4096) as usize;
        let mut head = vec![0u8; head_len];
        src.read_exact_at(&mut head, 0).map_err(io)?;
        if file_size < (PAGE_HEADER + META_SIZE) as u64 {
            return Err(BoltError::Truncated {
                file,
                what: "meta page 0".into(),
                need: (PAGE_HEADER + META_SIZE) as u64,
                have: file_size,
            });
        }
        let meta0 = parse_meta(0, &head);
        // Meta page 1 is at one page size: meta 0's, or (when it is bad) the first
        // sane page size at which a valid meta page 1 is found, as bbolt would need.
        let read_meta1 = |ps: u32| -> Result<Meta, MetaProblem> {
            let need = u64::from(ps) + (PAGE_HEADER + META_SIZE) as u64;
            if file_size < need {
                return Err(MetaProblem::Truncated {
                    need,
                    have: file_size,
                });
            }
            let mut buf = vec![0u8; PAGE_HEADER + META_SIZE];
            src.read_exact_at(&mut buf, u64::from(ps))
                .map_err(|_| MetaProblem::Truncated {
                    need,
                    have: file_size,
                })?;
            parse_meta(1, &buf)
        };
        let meta1 = match &meta0 {
            Ok(m0) => read_meta1(m0.page_size).and_then(|m1| {
                if m1.page_size != m0.page_size {
                    Err(MetaProblem::PageSizeDiffers {
                        found: m1.page_size,
                        other: m0.page_size,
                    })
                } else {
                    Ok(m1)
                }
            }),
            Err(_) => {
                let mut first = None;
                let mut found = None;
                for shift in 9..=16 {
                    let ps = 1u32 << shift;
                    match read_meta1(ps) {
                        Ok(m1) if m1.page_size == ps => {
                            found = Some(m1);
                            break;
                        }
                        Ok(m1) => {
                            first.get_or_insert(MetaProblem::PageSizeDiffers {
                                found: m1.page_size,
                                other: ps,
                            });
                        }
                        Err(e) => {
                            if ps == 4096 || first.is_none() {
                                first = Some(e);
                            }
                        }
                    }
                }
                found.ok_or_else(|| first.unwrap_or(MetaProblem::Magic { found: 0 }))
            }
        };
        let mut warnings = Vec::new();
        let meta = match (meta0, meta1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(p)) => {
                warnings.push(format!(
                    "{file}: meta page 1 {p}; using meta page 0 (txid {})",
                    a.txid
                ));
                a
            }
            (Err(p), Ok(b)) => {
                warnings.push(format!(
                    "{file}: meta page 0 {p}; using meta page 1 (txid {})",
                    b.txid
                ));
                b
            }
            (Err(meta0), Err(meta1)) => {
                return Err(BoltError::BothMeta { file, meta0, meta1 });
            }
        };
        let ps = u64::from(meta.page_size);
        let chosen = meta.page;
        let bad = |problem: String| BoltError::Page {
            file: file.clone(),
            page: PageLoc::Disk(u64::from(chosen)),
            problem,
        };
        if file_size < 2 * ps {
            return Err(BoltError::Truncated {
                file,
                what: "the two meta pages".into(),
                need: 2 * ps,
                have: file_size,
            });
        }
        let hw_bytes = meta.high_water.saturating_mul(ps);
        if meta.high_water < 3 || hw_bytes > file_size {
            if meta.high_water < 3 {
                return Err(bad(format!(
                    "high-water mark {} is below 3 pages (two meta pages and a root)",
                    meta.high_water
                )));
            }
            return Err(BoltError::Truncated {
                file,
                what: format!(
                    "the high-water mark of meta page {chosen} ({} pages of {ps} bytes)",
                    meta.high_water
                ),
                need: hw_bytes,
                have: file_size,
            });
        }
        if meta.root < 2 || meta.root >= meta.high_water {
            return Err(bad(format!(
                "root bucket page {} is outside pages 2..{}",
                meta.root, meta.high_water
            )));
        }
        if meta.freelist != NO_FREELIST
            && (meta.freelist < 2 || meta.freelist >= meta.high_water || meta.freelist == meta.root)
        {
            return Err(bad(format!(
                "freelist page {} is outside pages 2..{} or is the root page",
                meta.freelist, meta.high_water
            )));
        }
        let db = Db {
            src,
            file,
            meta,
            file_size,
            warnings,
        };
        if meta.freelist != NO_FREELIST {
            let p = db.page(meta.freelist)?;
            if p.flags & FREELIST_PAGE == 0 {
                return Err(db.page_err(
                    p.loc,
                    format!("the freelist page has flags {:#06x}", p.flags),
                ));
            }
        }
        Ok(db)
    }

    /// The meta page in use.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }
    pub fn page_size(&self) -> u32 {
        self.meta.page_size
    }
    pub fn txid(&self) -> u64 {
        self.meta.txid
    }
    pub fn file_size(&self) -> u64 {
        self.file_size
    }
    /// The file's name in messages.
    pub fn name(&self) -> &str {
        &self.file
    }
    /// What was tolerated (e.g. one bad meta page), in words.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The top-level bucket (the transaction's root).
    pub fn root(&self) -> Bucket<'_, R> {
        Bucket {
            db: self,
            root: Root::Page(self.meta.root),
            name: String::new(),
            depth: 0,
        }
    }

    /// The freelist's page ids (empty when not stored).
    pub fn freelist(&self) -> Result<Vec<u64>, BoltError> {
        if self.meta.freelist == NO_FREELIST {
            return Ok(Vec::new());
        }
        let p = self.page(self.meta.freelist)?;
        let (start, n) = if p.count == 0xFFFF {
            (PAGE_HEADER + 8, u64_at(&p.data, PAGE_HEADER))
        } else {
            (PAGE_HEADER, u64::from(p.count))
        };
        let need = n
            .checked_mul(8)
            .and_then(|b| b.checked_add(start as u64))
            .unwrap_or(u64::MAX);
        if need > p.data.len() as u64 {
            return Err(self.page_err(
                p.loc,
                format!(
                    "the freelist counts {n} ids, its page holds {}",
                    (p.data.len() - start.min(p.data.len())) / 8
                ),
            ));
        }
        let mut ids = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let id = u64_at(&p.data, start + 8 * i);
            if id < 2 || id >= self.meta.high_water {
                return Err(BoltError::Element {
                    file: self.file.clone(),
                    page: p.loc,
                    offset: (start + 8 * i) as u64,
                    problem: format!(
                        "free page id {id} is outside pages 2..{}",
                        self.meta.high_water
                    ),
                });
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// A walk of the whole file, as bbolt's `tx.Check`: every page of every bucket
    /// read once (no page referenced twice, none freed), every element checked, and
    /// every page below the high-water mark used or free. Returns the pages used.
    pub fn check(&self) -> Result<u64, BoltError> {
        let mut seen: HashSet<u64> = HashSet::new();
        let ps = u64::from(self.meta.page_size);
        let mut mark = |first: u64, pages: u64, what: &str| -> Result<(), BoltError> {
            for id in first..first.saturating_add(pages) {
                if !seen.insert(id) {
                    return Err(BoltError::Page {
                        file: self.file.clone(),
                        page: PageLoc::Disk(id),
                        problem: format!("referenced twice (again as {what})"),
                    });
                }
            }
            Ok(())
        };
        mark(0, 2, "meta")?;
        if self.meta.freelist != NO_FREELIST {
            let p = self.page(self.meta.freelist)?;
            mark(self.meta.freelist, p.data.len() as u64 / ps, "freelist")?;
            for id in self.freelist()? {
                mark(id, 1, "free")?;
            }
        }
        let mut stack = vec![self.root()];
        while let Some(b) = stack.pop() {
            let mut it = b.entries();
            for e in it.by_ref() {
                if let Value::Bucket(child) = e?.value {
                    stack.push(child);
                }
            }
            for (id, pages) in it.pages {
                mark(id, pages, "a bucket's page")?;
            }
        }
        if self.meta.freelist != NO_FREELIST
            && let Some(id) = (0..self.meta.high_water).find(|id| !seen.contains(id))
        {
            return Err(BoltError::Page {
                file: self.file.clone(),
                page: PageLoc::Disk(id),
                problem: "neither used nor free".into(),
            });
        }
        Ok(seen.len() as u64)
    }

    fn page_err(&self, page: PageLoc, problem: String) -> BoltError {
        BoltError::Page {
            file: self.file.clone(),
            page,
            problem,
        }
    }

    /// Reads page `id` with its overflow pages, checking that it lies below the
    /// high-water mark and in the file and that its header names it.
    fn page(&self, id: u64) -> Result<Page, BoltError> {
        let loc = PageLoc::Disk(id);
        let ps = u64::from(self.meta.page_size);
        if id < 2 || id >= self.meta.high_water {
            return Err(self.page_err(
                loc,
                format!("out of range (pages 2..{})", self.meta.high_water),
            ));
        }
        let offset = id * ps; // id < high_water, high_water * ps <= file size
        let mut header = [0u8; PAGE_HEADER];
        self.src
            .read_exact_at(&mut header, offset)
            .map_err(|source| BoltError::Io {
                file: self.file.clone(),
                source,
            })?;
        let disk_id = u64_at(&header, 0);
        let flags = u16_at(&header, 8);
        let count = u16_at(&header, 10);
        let overflow = u64::from(u32_at(&header, 12));
        if disk_id != id {
            return Err(self.page_err(loc, format!("its header says it is page {disk_id}")));
        }
        let pages = overflow + 1;
        if id + overflow >= self.meta.high_water {
            return Err(self.page_err(
                loc,
                format!(
                    "{overflow} overflow pages run past the high-water mark {}",
                    self.meta.high_water
                ),
            ));
        }
        let len = pages * ps;
        if len > MAX_PAGE_BYTES {
            return Err(self.page_err(
                loc,
                format!("{overflow} overflow pages: {len} bytes, more than this reader reads ({MAX_PAGE_BYTES})"),
            ));
        }
        let mut data = vec![0u8; len as usize];
        self.src
            .read_exact_at(&mut data, offset)
            .map_err(|_| BoltError::Truncated {
                file: self.file.clone(),
                what: format!("page {id} with {overflow} overflow pages"),
                need: offset + len,
                have: self.file_size,
            })?;
        Ok(Page {
            loc,
            disk_id: id,
            flags,
            count,
            data: data.into(),
            base: 0,
        })
    }

    /// A bucket tree's page: a branch or a leaf whose elements fit in it.
    fn tree_page(&self, root: &Root, id: Option<u64>) -> Result<Page, BoltError> {
        let p = match (root, id) {
            (_, Some(id)) => self.page(id)?,
            (Root::Page(id), None) => self.page(*id)?,
            (Root::Inline(p), None) => p.clone(),
        };
        let kind = p.flags & (BRANCH_PAGE | LEAF_PAGE);
        if kind != BRANCH_PAGE && kind != LEAF_PAGE {
            return Err(self.page_err(
                p.loc,
                format!(
                    "a bucket's page with flags {:#06x}, neither branch nor leaf",
                    p.flags
                ),
            ));
        }
        if PAGE_HEADER + usize::from(p.count) * ELEMENT > p.data.len() {
            return Err(self.page_err(
                p.loc,
                format!(
                    "{} elements do not fit in its {} bytes",
                    p.count,
                    p.data.len()
                ),
            ));
        }
        Ok(p)
    }

    fn elem_err(&self, p: &Page, at: usize, problem: String) -> BoltError {
        BoltError::Element {
            file: self.file.clone(),
            page: p.loc,
            offset: p.base + at as u64,
            problem,
        }
    }

    /// Element `i` of a tree page: (key, value or child page id, flags).
    fn element(&self, p: &Page, i: usize) -> Result<Elem, BoltError> {
        let at = PAGE_HEADER + i * ELEMENT;
        let leaf = p.flags & LEAF_PAGE != 0;
        let (pos, ksize, vsize) = if leaf {
            (
                u32_at(&p.data, at + 4) as usize,
                u32_at(&p.data, at + 8) as usize,
                u32_at(&p.data, at + 12) as usize,
            )
        } else {
            (
                u32_at(&p.data, at) as usize,
                u32_at(&p.data, at + 4) as usize,
                0,
            )
        };
        let kstart = at.checked_add(pos);
        let vend = kstart
            .and_then(|k| k.checked_add(ksize))
            .and_then(|k| k.checked_add(vsize));
        let (Some(kstart), Some(vend)) = (kstart, vend) else {
            return Err(self.elem_err(p, at, "element sizes overflow".into()));
        };
        if vend > p.data.len() || kstart < PAGE_HEADER + usize::from(p.count) * ELEMENT {
            return Err(self.elem_err(
                p,
                at,
                format!(
                    "element {i}: key at {kstart} ({ksize} bytes) and value ({vsize} bytes) run outside the page's elements' data ({}..{})",
                    PAGE_HEADER + usize::from(p.count) * ELEMENT,
                    p.data.len()
                ),
            ));
        }
        let key = p.data[kstart..kstart + ksize].to_vec();
        if leaf {
            Ok(Elem {
                key,
                flags: u32_at(&p.data, at),
                value: kstart + ksize..vend,
                child: 0,
                at,
            })
        } else {
            Ok(Elem {
                key,
                flags: 0,
                value: 0..0,
                child: u64_at(&p.data, at + 8),
                at,
            })
        }
    }
}

struct Elem {
    key: Vec<u8>,
    flags: u32,
    value: std::ops::Range<usize>,
    child: u64,
    at: usize,
}

#[derive(Debug, Clone)]
enum Root {
    Page(u64),
    Inline(Page),
}

/// A bucket: the root, or one nested in another.
pub struct Bucket<'a, R> {
    db: &'a Db<R>,
    root: Root,
    /// Its path, for messages ("pubkeys-bucket/0x1a2b…").
    name: String,
    depth: usize,
}

impl<R> Clone for Bucket<'_, R> {
    fn clone(&self) -> Self {
        Bucket {
            db: self.db,
            root: self.root.clone(),
            name: self.name.clone(),
            depth: self.depth,
        }
    }
}

impl<R> fmt::Debug for Bucket<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &Dbg(&self.name))
            .field("root", &self.root)
            .finish()
    }
}

/// An entry's value: bytes, or a nested bucket.
#[derive(Debug)]
pub enum Value<'a, R> {
    Data(Vec<u8>),
    Bucket(Bucket<'a, R>),
}

/// One key and its value, in key order.
#[derive(Debug)]
pub struct Entry<'a, R> {
    pub key: Vec<u8>,
    pub value: Value<'a, R>,
}

/// How a key is shown in a bucket's path: text when it is, else hex (long keys cut).
pub fn key_label(key: &[u8]) -> String {
    if !key.is_empty() && key.iter().all(|b| b.is_ascii_graphic()) && key.len() <= 64 {
        return String::from_utf8_lossy(key).into_owned();
    }
    let hex: String = key.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if key.len() > 8 {
        format!("0x{hex}…({} bytes)", key.len())
    } else {
        format!("0x{hex}")
    }
}

impl<'a, R: ReadAt> Bucket<'a, R> {
    /// Its path from the root, for messages.
    pub fn name(&self) -> &str {
        if self.name.is_empty() {
            "(root)"
        } else {
            &self.name
        }
    }

    fn child_name(&self, key: &[u8]) -> String {
        if self.name.is_empty() {
            key_label(key)
        } else {
            format!("{}/{}", self.name, key_label(key))
        }
    }

    fn err(&self, problem: String) -> BoltError {
        BoltError::Bucket {
            file: self.db.file.clone(),
            bucket: self.name().to_string(),
            problem,
        }
    }

    /// Decodes a leaf element's value: bytes, or a bucket header (and inline page).
    fn value(&self, p: &Page, e: &Elem) -> Result<Value<'a, R>, BoltError> {
        let v = &p.data[e.value.clone()];
        if e.flags & BUCKET_LEAF_FLAG == 0 {
            return Ok(Value::Data(v.to_vec()));
        }
        let name = self.child_name(&e.key);
        if self.depth + 1 > MAX_BUCKET_DEPTH {
            return Err(self.err(format!("buckets nested deeper than {MAX_BUCKET_DEPTH}")));
        }
        if v.len() < BUCKET_HEADER {
            return Err(self.db.elem_err(
                p,
                e.at,
                format!(
                    "bucket {name}: its header is {} bytes, not {BUCKET_HEADER}",
                    v.len()
                ),
            ));
        }
        let root = u64_at(v, 0);
        let root = if root == 0 {
            let inline = &v[BUCKET_HEADER..];
            let offset = p.base + (e.value.start + BUCKET_HEADER) as u64;
            let loc = PageLoc::Inline {
                in_page: p.disk_id,
                offset,
            };
            if inline.len() < PAGE_HEADER {
                return Err(self.db.page_err(
                    loc,
                    format!("bucket {name}: inline page of {} bytes", inline.len()),
                ));
            }
            let flags = u16_at(inline, 8);
            if flags & LEAF_PAGE == 0 {
                return Err(self.db.page_err(
                    loc,
                    format!("bucket {name}: inline page with flags {flags:#06x}, not a leaf"),
                ));
            }
            Root::Inline(Page {
                loc,
                disk_id: p.disk_id,
                flags,
                count: u16_at(inline, 10),
                data: inline.into(),
                base: offset,
            })
        } else {
            Root::Page(root)
        };
        Ok(Value::Bucket(Bucket {
            db: self.db,
            root,
            name,
            depth: self.depth + 1,
        }))
    }

    /// The leaf element for `key`, by bbolt's descent (bounded, no page twice).
    fn find(&self, key: &[u8]) -> Result<Option<(Page, Elem)>, BoltError> {
        let mut p = self.db.tree_page(&self.root, None)?;
        let mut path = HashSet::new();
        for _ in 0..=MAX_TREE_DEPTH {
            if p.flags & LEAF_PAGE != 0 {
                let (mut lo, mut hi) = (0usize, usize::from(p.count));
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let e = self.db.element(&p, mid)?;
                    match e.key.as_slice().cmp(key) {
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                        std::cmp::Ordering::Equal => return Ok(Some((p, e))),
                    }
                }
                return Ok(None);
            }
            if p.count == 0 {
                return Err(self
                    .db
                    .page_err(p.loc, "a branch page with no elements".into()));
            }
            // The last element whose key is <= key (or the first).
            let (mut lo, mut hi) = (0usize, usize::from(p.count));
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.db.element(&p, mid)?.key.as_slice() <= key {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let e = self.db.element(&p, lo.saturating_sub(1))?;
            if let PageLoc::Disk(id) = p.loc {
                path.insert(id);
            }
            if path.contains(&e.child) {
                return Err(BoltError::Cycle {
                    file: self.db.file.clone(),
                    page: e.child,
                    bucket: self.name().to_string(),
                });
            }
            p = self.db.tree_page(&self.root, Some(e.child))?;
        }
        Err(self.err(format!("tree deeper than {MAX_TREE_DEPTH} levels")))
    }

    /// The nested bucket `name`; `None` when absent or when the key holds bytes.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'a, R>>, BoltError> {
        match self.find(name)? {
            Some((p, e)) if e.flags & BUCKET_LEAF_FLAG != 0 => match self.value(&p, &e)? {
                Value::Bucket(b) => Ok(Some(b)),
                Value::Data(_) => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// The bytes at `key`; `None` when absent or when the key is a nested bucket.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BoltError> {
        match self.find(key)? {
            Some((p, e)) if e.flags & BUCKET_LEAF_FLAG == 0 => Ok(Some(p.data[e.value].to_vec())),
            _ => Ok(None),
        }
    }

    /// Every entry in key order; stops after the first error. Checks on the way that
    /// keys ascend strictly and that no page is met twice.
    pub fn entries(&self) -> Entries<'a, R> {
        Entries {
            bucket: self.clone(),
            stack: Vec::new(),
            started: false,
            done: false,
            visited: HashSet::new(),
            last_key: None,
            pages: Vec::new(),
        }
    }

    /// The last key (bbolt's `Cursor.Last`), walking back over empty pages.
    pub fn last(&self) -> Result<Option<Vec<u8>>, BoltError> {
        let root = self.db.tree_page(&self.root, None)?;
        let mut visited = HashSet::new();
        self.last_in(root, 0, &mut visited)
    }

    fn last_in(
        &self,
        p: Page,
        depth: usize,
        visited: &mut HashSet<u64>,
    ) -> Result<Option<Vec<u8>>, BoltError> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.err(format!("tree deeper than {MAX_TREE_DEPTH} levels")));
        }
        if p.flags & LEAF_PAGE != 0 {
            return Ok(match p.count {
                0 => None,
                n => Some(self.db.element(&p, usize::from(n) - 1)?.key),
            });
        }
        for i in (0..usize::from(p.count)).rev() {
            let e = self.db.element(&p, i)?;
            if !visited.insert(e.child) {
                return Err(BoltError::Cycle {
                    file: self.db.file.clone(),
                    page: e.child,
                    bucket: self.name().to_string(),
                });
            }
            let child = self.db.tree_page(&self.root, Some(e.child))?;
            if let Some(k) = self.last_in(child, depth + 1, visited)? {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }
}

/// The iterator of [`Bucket::entries`].
pub struct Entries<'a, R> {
    bucket: Bucket<'a, R>,
    stack: Vec<(Page, usize)>,
    started: bool,
    done: bool,
    visited: HashSet<u64>,
    last_key: Option<Vec<u8>>,
    /// The disk pages met: (id, pages with overflow).
    pages: Vec<(u64, u64)>,
}

impl<'a, R: ReadAt> Entries<'a, R> {
    fn push(&mut self, p: Page) -> Result<(), BoltError> {
        if self.stack.len() > MAX_TREE_DEPTH {
            return Err(self
                .bucket
                .err(format!("tree deeper than {MAX_TREE_DEPTH} levels")));
        }
        if let PageLoc::Disk(id) = p.loc {
            if !self.visited.insert(id) {
                return Err(BoltError::Cycle {
                    file: self.bucket.db.file.clone(),
                    page: id,
                    bucket: self.bucket.name().to_string(),
                });
            }
            self.pages.push((
                id,
                p.data.len() as u64 / u64::from(self.bucket.db.meta.page_size),
            ));
        }
        self.stack.push((p, 0));
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Entry<'a, R>>, BoltError> {
        if !self.started {
            self.started = true;
            let root = self.bucket.db.tree_page(&self.bucket.root, None)?;
            self.push(root)?;
        }
        loop {
            let Some((p, i)) = self.stack.last_mut() else {
                return Ok(None);
            };
            if *i >= usize::from(p.count) {
                self.stack.pop();
                continue;
            }
            let idx = *i;
            *i += 1;
            let p = p.clone();
            let e = self.bucket.db.element(&p, idx)?;
            if p.flags & LEAF_PAGE != 0 {
                if let Some(last) = &self.last_key
                    && e.key <= *last
                {
                    return Err(self.bucket.db.elem_err(
                        &p,
                        e.at,
                        format!(
                            "key {} is not after the previous key {} in bucket {}",
                            key_label(&e.key),
                            key_label(last),
                            self.bucket.name()
                        ),
                    ));
                }
                let value = self.bucket.value(&p, &e)?;
                self.last_key = Some(e.key.clone());
                return Ok(Some(Entry { key: e.key, value }));
            }
            let child = self.bucket.db.tree_page(&self.bucket.root, Some(e.child))?;
            self.push(child)?;
        }
    }
}

impl<'a, R: ReadAt> Iterator for Entries<'a, R> {
    type Item = Result<Entry<'a, R>, BoltError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

// ---- writing a fresh file ----

/// A bucket to write: keys in order, each bytes or a nested bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBucket {
    pub entries: BTreeMap<Vec<u8>, WriteValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteValue {
    Data(Vec<u8>),
    Bucket(WriteBucket),
}

impl WriteBucket {
    /// The nested bucket `name`, made when absent (replacing bytes stored there).
    pub fn bucket_mut(&mut self, name: &[u8]) -> &mut WriteBucket {
        let v = self
            .entries
            .entry(name.to_vec())
            .or_insert_with(|| WriteValue::Bucket(WriteBucket::default()));
        if let WriteValue::Data(_) = v {
            *v = WriteValue::Bucket(WriteBucket::default());
        }
        match v {
            WriteValue::Bucket(b) => b,
            WriteValue::Data(_) => unreachable!("replaced above"),
        }
    }
    pub fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.entries.insert(key.to_vec(), WriteValue::Data(value));
    }
}

struct Writer {
    ps: usize,
    /// Pages from 3 on, each with its overflow pages.
    pages: Vec<u8>,
    next: u64,
}

impl Writer {
    /// Appends one page (with overflow pages as needed) holding these elements.
    fn page(&mut self, flags: u16, elems: &[(u32, &[u8], &[u8], u64)]) -> u64 {
        let bytes = page_bytes(0, flags, elems);
        let pages = bytes.len().div_ceil(self.ps).max(1);
        let id = self.next;
        let mut buf = bytes;
        buf.resize(pages * self.ps, 0);
        buf[0..8].copy_from_slice(&id.to_le_bytes());
        buf[12..16].copy_from_slice(&((pages - 1) as u32).to_le_bytes());
        self.pages.extend_from_slice(&buf);
        self.next += pages as u64;
        id
    }

    /// Writes a bucket's pages (nested buckets first) and returns its value: the
    /// bucket header, with the inline page when bbolt would inline it.
    fn bucket(&mut self, b: &WriteBucket, top: bool) -> Vec<u8> {
        let mut vals: Vec<(u32, &[u8], Vec<u8>)> = Vec::with_capacity(b.entries.len());
        for (k, v) in &b.entries {
            match v {
                WriteValue::Data(d) => vals.push((0, k, d.clone())),
                WriteValue::Bucket(c) => vals.push((BUCKET_LEAF_FLAG, k, self.bucket(c, false))),
            }
        }
        let inline_size: usize = PAGE_HEADER
            + vals
                .iter()
                .map(|(_, k, v)| ELEMENT + k.len() + v.len())
                .sum::<usize>();
        if !top && vals.iter().all(|(f, _, _)| *f == 0) && inline_size <= self.ps / 4 {
            let elems: Vec<_> = vals
                .iter()
                .map(|(f, k, v)| (*f, *k, v.as_slice(), 0))
                .collect();
            let mut out = vec![0u8; BUCKET_HEADER];
            out.extend(page_bytes(0, LEAF_PAGE, &elems));
            return out;
        }
        // Leaves, filled up to a page each (at least one element, at most 0xFFFF).
        let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut chunk: Vec<(u32, &[u8], &[u8], u64)> = Vec::new();
        let mut size = PAGE_HEADER;
        for (f, k, v) in &vals {
            let add = ELEMENT + k.len() + v.len();
            if !chunk.is_empty() && (size + add > self.ps || chunk.len() == 0xFFFF) {
                let first = chunk[0].1.to_vec();
                level.push((first, self.page(LEAF_PAGE, &chunk)));
                chunk.clear();
                size = PAGE_HEADER;
            }
            chunk.push((*f, *k, v.as_slice(), 0));
            size += add;
        }
        if !chunk.is_empty() || level.is_empty() {
            let first = chunk.first().map(|c| c.1.to_vec()).unwrap_or_default();
            level.push((first, self.page(LEAF_PAGE, &chunk)));
        }
        // Branch levels until one root.
        while level.len() > 1 {
            let mut up = Vec::new();
            let mut chunk: Vec<(u32, &[u8], &[u8], u64)> = Vec::new();
            let mut size = PAGE_HEADER;
            for (k, id) in &level {
                let add = ELEMENT + k.len();
                if chunk.len() >= 2 && (size + add > self.ps || chunk.len() == 0xFFFF) {
                    let first = chunk[0].1.to_vec();
                    up.push((first, self.page(BRANCH_PAGE, &chunk)));
                    chunk.clear();
                    size = PAGE_HEADER;
                }
                chunk.push((0, k, &[], *id));
                size += add;
            }
            let first = chunk[0].1.to_vec();
            up.push((first, self.page(BRANCH_PAGE, &chunk)));
            level = up;
        }
        let mut out = vec![0u8; BUCKET_HEADER];
        out[0..8].copy_from_slice(&level[0].1.to_le_bytes());
        out
    }
}

/// A page's bytes (unpadded): header, elements, then keys and values.
fn page_bytes(id: u64, flags: u16, elems: &[(u32, &[u8], &[u8], u64)]) -> Vec<u8> {
    let mut out = vec![0u8; PAGE_HEADER + elems.len() * ELEMENT];
    out[0..8].copy_from_slice(&id.to_le_bytes());
    out[8..10].copy_from_slice(&flags.to_le_bytes());
    out[10..12].copy_from_slice(&(elems.len() as u16).to_le_bytes());
    for (i, (f, k, v, child)) in elems.iter().enumerate() {
        let at = PAGE_HEADER + i * ELEMENT;
        let pos = (out.len() - at) as u32;
        if flags & LEAF_PAGE != 0 {
            out[at..at + 4].copy_from_slice(&f.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&pos.to_le_bytes());
            out[at + 8..at + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            out[at + 12..at + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
        } else {
            out[at..at + 4].copy_from_slice(&pos.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&(k.len() as u32).to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&child.to_le_bytes());
        }
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out
}

/// A meta page's bytes.
fn meta_page(id: u64, ps: usize, root: u64, freelist: u64, high_water: u64, txid: u64) -> Vec<u8> {
    let mut p = vec![0u8; ps];
    p[0..8].copy_from_slice(&id.to_le_bytes());
    p[8..10].copy_from_slice(&META_PAGE.to_le_bytes());
    let m = &mut p[PAGE_HEADER..PAGE_HEADER + META_SIZE];
    m[0..4].copy_from_slice(&BBOLT_MAGIC.to_le_bytes());
    m[4..8].copy_from_slice(&BBOLT_VERSION.to_le_bytes());
    m[8..12].copy_from_slice(&(ps as u32).to_le_bytes());
    m[16..24].copy_from_slice(&root.to_le_bytes());
    m[32..40].copy_from_slice(&freelist.to_le_bytes());
    m[40..48].copy_from_slice(&high_water.to_le_bytes());
    m[48..56].copy_from_slice(&txid.to_le_bytes());
    let sum = fnv64a(&m[..META_SUM_LEN]);
    m[56..64].copy_from_slice(&sum.to_le_bytes());
    p
}

/// A complete bbolt file holding `root`'s buckets and keys: meta pages 0 and 1
/// (txids 1 and 2, checksummed), an empty freelist at page 2, then the buckets'
/// pages (leaves filled to a page, overflow pages for large elements, branch pages
/// above, small leaf-only buckets inline as bbolt stores them). Its size is exactly
/// its pages: the real library opens, checks and reads it.
pub fn write_db(root: &WriteBucket, page_size: u32) -> Vec<u8> {
    let ps = page_size as usize;
    let mut w = Writer {
        ps,
        pages: Vec::new(),
        next: 3,
    };
    let header = w.bucket(root, true);
    let root_id = u64_at(&header, 0);
    let high_water = w.next;
    let mut out = Vec::with_capacity(high_water as usize * ps);
    out.extend(meta_page(0, ps, root_id, 2, high_water, 1));
    out.extend(meta_page(1, ps, root_id, 2, high_water, 2));
    let mut free = page_bytes(2, FREELIST_PAGE, &[]);
    free.resize(ps, 0);
    out.extend(free);
    out.extend(w.pages);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WriteBucket {
        let mut root = WriteBucket::default();
        let a = root.bucket_mut(b"alpha");
        a.put(b"k1", b"v1".to_vec());
        a.put(b"k2", b"v2".to_vec());
        let big = root.bucket_mut(b"big");
        for i in 0u64..2000 {
            big.put(&i.to_be_bytes(), vec![i as u8; 40]);
        }
        let l = root.bucket_mut(b"leafy");
        for i in 0u8..30 {
            l.put(&[b'k', i], vec![i; 40]);
        }
        let n = root.bucket_mut(b"nest");
        n.bucket_mut(b"inner").put(b"x", b"y".to_vec());
        n.put(b"huge", vec![7u8; 10_000]);
        root
    }

    fn read_all<R: ReadAt>(b: &Bucket<'_, R>) -> Result<WriteBucket, BoltError> {
        let mut out = WriteBucket::default();
        for e in b.entries() {
            let e = e?;
            let v = match e.value {
                Value::Data(d) => WriteValue::Data(d),
                Value::Bucket(c) => WriteValue::Bucket(read_all(&c)?),
            };
            out.entries.insert(e.key, v);
        }
        Ok(out)
    }

    #[test]
    fn bolt_round_trip_with_inline_nested_and_overflow() {
        let model = sample();
        let bytes = write_db(&model, 4096);
        let db = Db::from_bytes(&bytes, "t.db").unwrap();
        assert!(db.warnings().is_empty());
        assert_eq!(read_all(&db.root()).unwrap(), model);
        // inline bucket
        let alpha = db.root().bucket(b"alpha").unwrap().unwrap();
        assert!(matches!(alpha.root, Root::Inline(_)));
        assert_eq!(alpha.get(b"k2").unwrap(), Some(b"v2".to_vec()));
        assert_eq!(alpha.get(b"k3").unwrap(), None);
        assert_eq!(alpha.last().unwrap(), Some(b"k2".to_vec()));
        // branch pages and lookups in a multi-page bucket
        let big = db.root().bucket(b"big").unwrap().unwrap();
        assert!(matches!(big.root, Root::Page(_)));
        for i in [0u64, 1, 999, 1999] {
            assert_eq!(big.get(&i.to_be_bytes()).unwrap(), Some(vec![i as u8; 40]));
        }
        assert_eq!(big.get(&5000u64.to_be_bytes()).unwrap(), None);
        assert_eq!(big.last().unwrap(), Some(1999u64.to_be_bytes().to_vec()));
        // nested bucket and an overflow page
        let nest = db.root().bucket(b"nest").unwrap().unwrap();
        assert_eq!(nest.get(b"huge").unwrap(), Some(vec![7u8; 10_000]));
        assert!(
            nest.get(b"inner").unwrap().is_none(),
            "a bucket is not bytes"
        );
        let inner = nest.bucket(b"inner").unwrap().unwrap();
        assert_eq!(inner.name(), "nest/inner");
        assert_eq!(inner.get(b"x").unwrap(), Some(b"y".to_vec()));
        assert!(db.root().bucket(b"nope").unwrap().is_none());
        assert!(db.check().unwrap() as usize * 4096 == bytes.len());
    }

    fn corrupt_meta(bytes: &mut [u8], page: usize) {
        bytes[page * 4096 + PAGE_HEADER + 48] ^= 0x01; // txid, under the checksum
    }

    #[test]
    fn bolt_one_bad_meta_is_tolerated_and_said() {
        let mut bytes = write_db(&sample(), 4096);
        corrupt_meta(&mut bytes, 1);
        let db = Db::from_bytes(&bytes, "validator.db").unwrap();
        assert_eq!(db.meta().page, 0);
        assert_eq!(db.txid(), 1);
        let w = db.warnings().join("\n");
        assert!(
            w.contains("meta page 1 checksum mismatch (stored 0x"),
            "{w}"
        );
        assert!(w.contains("using meta page 0"), "{w}");
        assert_eq!(read_all(&db.root()).unwrap(), sample());

        let mut bytes = write_db(&sample(), 4096);
        corrupt_meta(&mut bytes, 0);
        let db = Db::from_bytes(&bytes, "validator.db").unwrap();
        assert_eq!(db.meta().page, 1);
        assert!(db.warnings()[0].contains("meta page 0 checksum mismatch"));
    }

    #[test]
    fn bolt_both_bad_metas_are_an_error() {
        let mut bytes = write_db(&sample(), 4096);
        corrupt_meta(&mut bytes, 0);
        corrupt_meta(&mut bytes, 1);
        let e = Db::from_bytes(&bytes, "validator.db")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "validator.db: both meta pages are invalid: meta page 0 checksum mismatch"
            ),
            "{e}"
        );
        assert!(e.contains("meta page 1 checksum mismatch"), "{e}");
    }

    #[test]
    fn bolt_wrong_magic() {
        let mut bytes = write_db(&sample(), 4096);
        bytes[16] = 0;
        bytes[4096 + 16] = 0;
        let e = Db::from_bytes(&bytes, "x").unwrap_err().to_string();
        assert!(e.contains("wrong magic"), "{e}");
        let e = Db::from_bytes(&[0u8; 8192], "x").unwrap_err().to_string();
        assert!(e.contains("not a bbolt file"), "{e}");
    }

    #[test]
    fn bolt_truncated_file() {
        let bytes = write_db(&sample(), 4096);
        let e = Db::from_bytes(&bytes[..bytes.len() - 4096], "v.db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated: the high-water mark"), "{e}");
        let e = Db::from_bytes(&bytes[..40], "v.db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        // Meta 1 cut off: tolerated (meta 0 is whole) but the file is too short.
        let e = Db::from_bytes(&bytes[..4200], "v.db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    /// Finds the disk page of bucket `name` (non-inline) in the root.
    fn bucket_page(bytes: &[u8], name: &[u8]) -> u64 {
        let db = Db::from_bytes(bytes, "t").unwrap();
        match db.root().bucket(name).unwrap().unwrap().root {
            Root::Page(id) => id,
            Root::Inline(_) => panic!("inline"),
        }
    }

    #[test]
    fn bolt_page_id_out_of_range() {
        let mut bytes = write_db(&sample(), 4096);
        let id = bucket_page(&bytes, b"big");
        // the branch's first child: element 0's page id
        let at = id as usize * 4096 + PAGE_HEADER + 8;
        bytes[at..at + 8].copy_from_slice(&9999u64.to_le_bytes());
        let db = Db::from_bytes(&bytes, "t").unwrap();
        let big = db.root().bucket(b"big").unwrap().unwrap();
        let e = big.entries().find_map(Result::err).unwrap().to_string();
        assert!(e.contains("page 9999: out of range"), "{e}");
    }

    #[test]
    fn bolt_cycle_is_an_error() {
        let mut bytes = write_db(&sample(), 4096);
        let id = bucket_page(&bytes, b"big");
        // the branch's second child points back at the branch itself
        let at = id as usize * 4096 + PAGE_HEADER + ELEMENT + 8;
        bytes[at..at + 8].copy_from_slice(&id.to_le_bytes());
        let db = Db::from_bytes(&bytes, "t").unwrap();
        let big = db.root().bucket(b"big").unwrap().unwrap();
        let e = big.entries().find_map(Result::err).unwrap().to_string();
        assert!(e.contains("met twice"), "{e}");
        // a descent to a key under that child meets the branch again
        let e = big.get(&70u64.to_be_bytes()).unwrap_err().to_string();
        assert!(e.contains("met twice"), "{e}");
    }

    #[test]
    fn bolt_element_outside_page() {
        let mut bytes = write_db(&sample(), 4096);
        let id = bucket_page(&bytes, b"leafy");
        let at = id as usize * 4096 + PAGE_HEADER + 12; // element 0's vsize
        bytes[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let db = Db::from_bytes(&bytes, "t").unwrap();
        let nest = db.root().bucket(b"leafy").unwrap().unwrap();
        let e = nest.entries().find_map(Result::err).unwrap().to_string();
        assert!(e.contains(&format!("page {id}, offset")), "{e}");
        assert!(e.contains("outside"), "{e}");
    }

    #[test]
    fn bolt_fnv64a_matches_go() {
        // Go: fnv.New64a().Sum64() of "" and of "a".
        assert_eq!(fnv64a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv64a(b"a"), 0xaf63dc4c8601ec8c);
    }
}
