//! A test-side reader and writer of pg_dump custom archives, independent of the checker's
//! streaming parser: it reads a whole archive from memory and writes it again in another
//! archive version (1.12 to 1.17), to check real archives in the layouts PostgreSQL 9.0 to
//! 17 write. It also finds where each data chunk's length lies, for corruption tests.

pub struct Entry {
    pub dump_id: i64,
    pub had_dumper: i64,
    pub tableoid: Option<Vec<u8>>,
    pub oid: Option<Vec<u8>>,
    pub tag: Option<Vec<u8>>,
    pub desc: Option<Vec<u8>>,
    pub section: i64,
    pub defn: Option<Vec<u8>>,
    pub drop_stmt: Option<Vec<u8>>,
    pub copy_stmt: Option<Vec<u8>>,
    pub namespace: Option<Vec<u8>>,
    pub tablespace: Option<Vec<u8>>,
    pub tableam: Option<Vec<u8>>,
    pub owner: Option<Vec<u8>>,
    pub with_oids: Option<Vec<u8>>,
    pub deps: Vec<Vec<u8>>,
    pub offset_state: u8,
    pub offset: Vec<u8>,
}

/// An archive of version 1.14 (what PostgreSQL 12 to 15 write), parsed.
pub struct Archive {
    pub int_size: usize,
    pub off_size: usize,
    pub level: i64,
    pub date: [i64; 7],
    pub dbname: Option<Vec<u8>>,
    pub server: Option<Vec<u8>>,
    pub dumper: Option<Vec<u8>>,
    pub toc: Vec<Entry>,
    /// Everything after the TOC: the data blocks, verbatim.
    pub data: Vec<u8>,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    int_size: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        self.pos += 1;
        self.data[self.pos - 1]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        self.pos += n;
        self.data[self.pos - n..self.pos].to_vec()
    }
    fn int(&mut self) -> i64 {
        let sign = self.byte();
        let mut v = 0i64;
        for i in 0..self.int_size {
            v |= i64::from(self.byte()) << (8 * i);
        }
        if sign == 1 {
            -v
        } else {
            v
        }
    }
    fn string(&mut self) -> Option<Vec<u8>> {
        let len = self.int();
        (len >= 0).then(|| self.bytes(len as usize))
    }
}

pub fn parse(data: &[u8]) -> Archive {
    assert_eq!(&data[..5], b"PGDMP");
    assert_eq!(data[5..8], [1, 14, 0], "the fixtures are version 1.14");
    let mut r = Reader {
        data,
        pos: 8,
        int_size: 0,
    };
    r.int_size = r.byte() as usize;
    let off_size = r.byte() as usize;
    assert_eq!(r.byte(), 1, "custom format");
    let level = r.int();
    let mut date = [0; 7];
    for d in &mut date {
        *d = r.int();
    }
    let (dbname, server, dumper) = (r.string(), r.string(), r.string());
    let count = r.int();
    let mut toc = Vec::new();
    for _ in 0..count {
        let dump_id = r.int();
        let had_dumper = r.int();
        let (tableoid, oid, tag, desc) = (r.string(), r.string(), r.string(), r.string());
        let section = r.int();
        let (defn, drop_stmt, copy_stmt) = (r.string(), r.string(), r.string());
        let (namespace, tablespace) = (r.string(), r.string());
        let tableam = r.string();
        let (owner, with_oids) = (r.string(), r.string());
        let mut deps = Vec::new();
        while let Some(dep) = r.string() {
            deps.push(dep);
        }
        let offset_state = r.byte();
        let offset = r.bytes(off_size);
        toc.push(Entry {
            dump_id,
            had_dumper,
            tableoid,
            oid,
            tag,
            desc,
            section,
            defn,
            drop_stmt,
            copy_stmt,
            namespace,
            tablespace,
            tableam,
            owner,
            with_oids,
            deps,
            offset_state,
            offset,
        });
    }
    Archive {
        int_size: r.int_size,
        off_size,
        level,
        date,
        dbname,
        server,
        dumper,
        toc,
        data: data[r.pos..].to_vec(),
    }
}

struct Writer {
    out: Vec<u8>,
    int_size: usize,
}

impl Writer {
    fn int(&mut self, v: i64) {
        self.out.push(u8::from(v < 0));
        let v = v.unsigned_abs();
        for i in 0..self.int_size {
            self.out.push((v >> (8 * i)) as u8);
        }
    }
    fn string(&mut self, s: &Option<Vec<u8>>) {
        match s {
            None => self.int(-1),
            Some(s) => {
                self.int(s.len() as i64);
                self.out.extend_from_slice(s);
            }
        }
    }
}

impl Archive {
    /// The archive as pg_dump of archive version 1.`minor` writes it: the compression as a
    /// byte from 1.15, `tableam` from 1.14, `relkind` from 1.16.
    pub fn write(&self, minor: u8) -> Vec<u8> {
        let mut w = Writer {
            out: b"PGDMP".to_vec(),
            int_size: self.int_size,
        };
        w.out
            .extend_from_slice(&[1, minor, 0, self.int_size as u8, self.off_size as u8, 1]);
        if minor >= 15 {
            w.out.push(u8::from(self.level != 0)); // gzip or none
        } else {
            w.int(self.level);
        }
        for d in self.date {
            w.int(d);
        }
        w.string(&self.dbname);
        w.string(&self.server);
        w.string(&self.dumper);
        w.int(self.toc.len() as i64);
        for e in &self.toc {
            w.int(e.dump_id);
            w.int(e.had_dumper);
            for s in [&e.tableoid, &e.oid, &e.tag, &e.desc] {
                w.string(s);
            }
            w.int(e.section);
            for s in [
                &e.defn,
                &e.drop_stmt,
                &e.copy_stmt,
                &e.namespace,
                &e.tablespace,
            ] {
                w.string(s);
            }
            if minor >= 14 {
                w.string(&e.tableam);
            }
            if minor >= 16 {
                w.int(match e.desc.as_deref() {
                    Some(b"TABLE") => i64::from(b'r'),
                    Some(b"MATERIALIZED VIEW") => i64::from(b'm'),
                    _ => 0,
                });
            }
            w.string(&e.owner);
            w.string(&e.with_oids);
            for dep in &e.deps {
                w.string(&Some(dep.clone()));
            }
            w.string(&None);
            w.out.push(e.offset_state);
            w.out.extend_from_slice(&e.offset);
        }
        w.out.extend_from_slice(&self.data);
        w.out
    }

    /// Where the data section starts in the archive as read.
    pub fn data_start(&self, archive_len: usize) -> usize {
        archive_len - self.data.len()
    }

    /// The offsets (in the data section) of every data chunk's length integer, and whether
    /// it is a chunk's (or the zero that ends a block or large object).
    pub fn chunk_lengths(&self) -> Vec<(usize, bool)> {
        let mut r = Reader {
            data: &self.data,
            pos: 0,
            int_size: self.int_size,
        };
        let mut found = Vec::new();
        let mut chunks = |r: &mut Reader| loop {
            let at = r.pos;
            let len = r.int();
            found.push((at, len != 0));
            if len == 0 {
                break;
            }
            r.pos += len as usize;
        };
        while r.pos < self.data.len() {
            let kind = r.byte();
            r.int();
            if kind == 3 {
                while r.int() != 0 {
                    chunks(&mut r);
                }
            } else {
                chunks(&mut r);
            }
        }
        found
    }
}
