//! A destination plugin that keeps objects in memory (for one connection, so for one twgate
//! command) and lies about them, as its `lie` parameter says:
//! - `drop-data`: `commit` of a data object (`.data`) says yes and keeps nothing;
//! - `short-data`: `commit` of a data object keeps all but its last byte;
//! - `drop-manifests`: `commit` of a manifest says yes and keeps nothing;
//! - anything else: keeps what it is given (the honest case).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use twgate_plugin_sdk::{
    export_destination, Connection, Destination, Download, Error, ObjectEntry, Params, Upload,
};

type Objects = Rc<RefCell<BTreeMap<String, Vec<u8>>>>;

pub struct Liar;

pub struct Store {
    objects: Objects,
    lie: Rc<String>,
}

pub struct Staged {
    objects: Objects,
    lie: Rc<String>,
    path: String,
    data: Vec<u8>,
}

pub struct Bytes(Vec<u8>);

impl Destination for Liar {
    const NAME: &'static str = "liar";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SUMMARY: &'static str = env!("CARGO_PKG_DESCRIPTION");
    type Connection = Store;

    fn connect(params: &Params, _secrets: &Params) -> Result<Store, Error> {
        let lie = params
            .get("lie")?
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        Ok(Store {
            objects: Objects::default(),
            lie: Rc::new(lie),
        })
    }
}

impl Connection for Store {
    type Upload = Staged;
    type Download = Bytes;

    fn create(&mut self, path: &str) -> Result<Staged, Error> {
        Ok(Staged {
            objects: self.objects.clone(),
            lie: self.lie.clone(),
            path: path.into(),
            data: Vec::new(),
        })
    }

    fn read(&mut self, path: &str, offset: u64, length: u64) -> Result<Option<Bytes>, Error> {
        Ok(self.objects.borrow().get(path).map(|data| {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            let end = start.saturating_add(length).min(data.len());
            Bytes(data[start..end].to_vec())
        }))
    }

    fn stat(&mut self, path: &str) -> Result<Option<ObjectEntry>, Error> {
        Ok(self
            .list_objects(path)?
            .into_iter()
            .find(|entry| entry.path == path))
    }

    fn list_objects(&mut self, prefix: &str) -> Result<Vec<ObjectEntry>, Error> {
        let objects = self.objects.borrow();
        Ok(objects
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .map(|(path, data)| ObjectEntry {
                path: path.clone(),
                size: data.len() as u64,
                modified: None,
            })
            .collect())
    }

    fn delete(&mut self, path: &str) -> Result<(), Error> {
        self.objects.borrow_mut().remove(path);
        Ok(())
    }
}

impl Upload for Staged {
    fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.data.extend_from_slice(chunk);
        Ok(())
    }

    fn commit(mut self) -> Result<(), Error> {
        let data = self.path.ends_with(".data");
        let manifest = self.path.ends_with(".manifest.json");
        match self.lie.as_str() {
            "drop-data" if data => return Ok(()),
            "drop-manifests" if manifest => return Ok(()),
            "short-data" if data => {
                self.data.pop();
            }
            _ => {}
        }
        self.objects.borrow_mut().insert(self.path, self.data);
        Ok(())
    }

    fn abort(self) -> Result<(), Error> {
        Ok(())
    }
}

impl Download for Bytes {
    fn next(&mut self) -> Result<Vec<u8>, Error> {
        let n = self.0.len().min(1 << 20);
        Ok(self.0.drain(..n).collect())
    }
}

export_destination!(Liar);
