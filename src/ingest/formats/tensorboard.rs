//! TensorBoard event files (`events.out.tfevents.*`), as HF's `TensorBoardCallback` (through
//! torch's `SummaryWriter`), TF, Keras and Lightning write them: TFRecord framing (a little-endian
//! u64 length, its masked CRC-32C, the bytes, their masked CRC-32C) around protobuf `Event`s,
//! each holding a step, a wall time and `Summary` values, scalars as `simple_value` (torch) or as
//! scalar tensors (TF 2's `tf.summary.scalar`).
//!
//! Both CRCs of every record are checked: a record whose data fails its CRC is skipped and
//! counted; a length that fails its CRC (or a file cut short) ends the read with a warning, the
//! events before it kept. Tags are renamed back to HF's log keys (`train/loss` → `loss`,
//! `eval/loss` → `eval_loss`, `train/epoch` → the points' epoch); other tags keep their name.

use crate::model::At;
use crate::model::Row;
use std::io::{self, Read};

use prost::Message;

use super::RecordFormat;
use crate::ingest::lenient::tracker_name;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record};
use crate::model::Key;

/// `tensorflow.Event`, the fields losscmp reads.
#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

/// `tensorflow.Summary.Value` (the scalar members of its `value` oneof).
#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
    #[prost(message, optional, tag = "8")]
    tensor: Option<Tensor>,
}

/// `tensorflow.TensorProto`, for scalar tensors.
#[derive(Clone, PartialEq, Message)]
struct Tensor {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<Shape>,
    #[prost(bytes = "vec", tag = "4")]
    content: Vec<u8>,
    #[prost(float, repeated, tag = "5")]
    float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    double_val: Vec<f64>,
    #[prost(int32, repeated, tag = "7")]
    int_val: Vec<i32>,
    #[prost(int64, repeated, tag = "10")]
    int64_val: Vec<i64>,
}

/// `tensorflow.TensorShapeProto`: a scalar has no dimensions.
#[derive(Clone, PartialEq, Message)]
struct Shape {
    #[prost(message, repeated, tag = "2")]
    dim: Vec<Dim>,
}

#[derive(Clone, PartialEq, Message)]
struct Dim {
    #[prost(int64, tag = "1")]
    size: i64,
}

/// TF `DataType` values of scalar numbers.
const DT_FLOAT: i32 = 1;
const DT_DOUBLE: i32 = 2;
const DT_INT32: i32 = 3;
const DT_INT64: i32 = 9;

/// Summary keys of HF's end-of-training log; they describe the run, not a step.
const SUMMARY_TAGS: [&str; 5] = [
    "train/train_runtime",
    "train/train_samples_per_second",
    "train/train_steps_per_second",
    "train/total_flos",
    "train/train_loss",
];

/// Yes when the file starts with a TFRecord whose length passes its CRC.
pub fn sniff(head: &[u8]) -> bool {
    head.len() >= 12
        && masked_crc(&head[..8]) == u32::from_le_bytes([head[8], head[9], head[10], head[11]])
}

/// The masked CRC-32C TFRecord stores.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Reads an event file.
pub fn read(mut reader: impl Read, path: &str) -> Result<Parsed, IngestError> {
    let mut out = Parsed::default();
    let mut names = Names::default();
    let (mut offset, mut index, mut bad_data, mut first_bad) = (0u64, 0u32, 0usize, None);
    let mut start: Option<f64> = None;
    let io = |e| IngestError::Io {
        path: path.into(),
        error: e,
    };
    let mut data = Vec::new();
    loop {
        let mut header = [0u8; 12];
        match read_full(&mut reader, &mut header).map_err(io)? {
            0 => break,
            12 => {}
            _ => {
                out.warnings.push(format!(
                    "the file ends inside a record header at byte {offset} (a writer that was stopped); read the {index} records before it"
                ));
                break;
            }
        }
        let len_bytes: [u8; 8] = header[..8].try_into().expect("8 bytes");
        let crc = u32::from_le_bytes(header[8..].try_into().expect("4 bytes"));
        if masked_crc(&len_bytes) != crc {
            out.warnings.push(format!(
                "corrupt record length at byte {offset} (CRC mismatch); read the {index} records before it"
            ));
            break;
        }
        let len = u64::from_le_bytes(len_bytes);
        let Ok(len) = usize::try_from(len).map(|l| l.min(1 << 30)) else {
            break;
        };
        data.resize(len + 4, 0);
        if read_full(&mut reader, &mut data).map_err(io)? < len + 4 {
            out.warnings.push(format!(
                "the file ends inside record {} at byte {offset} (a writer that was stopped); read the {index} records before it",
                index + 1
            ));
            break;
        }
        index += 1;
        let record_at = offset;
        offset += 12 + len as u64 + 4;
        let crc = u32::from_le_bytes(data[len..].try_into().expect("4 bytes"));
        if masked_crc(&data[..len]) != crc {
            bad_data += 1;
            first_bad.get_or_insert((index, record_at));
            continue;
        }
        let Ok(event) = Event::decode(&data[..len]) else {
            bad_data += 1;
            first_bad.get_or_insert((index, record_at));
            continue;
        };
        let start = *start.get_or_insert(event.wall_time);
        let Some(summary) = event.summary else {
            continue;
        };
        let mut rec = Record::new(Row {
            step: Some(event.step as f64),
            time: Some(event.wall_time - start),
            line: index,
            ..Row::default()
        });
        for v in &summary.value {
            let Some(x) = scalar(v) else { continue };
            if SUMMARY_TAGS.contains(&v.tag.as_str()) {
                let key = match v.tag.as_str() {
                    "train/train_runtime" => Key::TrainRuntime,
                    "train/train_samples_per_second" => Key::TrainSamplesPerSecond,
                    "train/train_steps_per_second" => Key::TrainStepsPerSecond,
                    _ => continue,
                };
                out.fact(key, x, At::Record(index, v.tag.clone().into()), 2);
                continue;
            }
            match tracker_name(&v.tag) {
                None => rec.row.epoch = Some(x),
                Some(name) => rec.metrics.push((names.get(&name), x)),
            }
        }
        if !rec.metrics.is_empty() || rec.row.epoch.is_some() {
            out.records.push(rec);
        }
    }
    if let Some((n, at)) = first_bad {
        out.warnings.push(format!(
            "{bad_data} records failed their data CRC or did not decode (first: record {n} at byte {at}); skipped"
        ));
    }
    Ok(out)
}

/// The number a summary value holds, when it is a scalar.
fn scalar(v: &Value) -> Option<f64> {
    if let Some(x) = v.simple_value {
        return Some(f64::from(x));
    }
    let t = v.tensor.as_ref()?;
    if t.shape
        .as_ref()
        .is_some_and(|s| s.dim.iter().any(|d| d.size != 1))
    {
        return None;
    }
    let c = &t.content;
    match t.dtype {
        DT_FLOAT => t
            .float_val
            .first()
            .map(|&x| f64::from(x))
            .or_else(|| Some(f64::from(f32::from_le_bytes(c.get(..4)?.try_into().ok()?)))),
        DT_DOUBLE => t
            .double_val
            .first()
            .copied()
            .or_else(|| Some(f64::from_le_bytes(c.get(..8)?.try_into().ok()?))),
        DT_INT32 => t.int_val.first().map(|&x| f64::from(x)),
        DT_INT64 => t.int64_val.first().map(|&x| x as f64),
        _ => None,
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// TensorBoard event files (binary; recognised by their first record's CRC).
pub static FORMAT: RecordFormat = RecordFormat {
    name: "tensorboard",
    priority: 7,
    sniff,
    read,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &Event) -> Vec<u8> {
        let data = event.encode_to_vec();
        let len = (data.len() as u64).to_le_bytes();
        let mut out = len.to_vec();
        out.extend(masked_crc(&len).to_le_bytes());
        out.extend(&data);
        out.extend(masked_crc(&data).to_le_bytes());
        out
    }

    fn event(step: i64, tag: &str, x: f32) -> Event {
        Event {
            wall_time: 100.0 + step as f64,
            step,
            summary: Some(Summary {
                value: vec![Value {
                    tag: tag.into(),
                    simple_value: Some(x),
                    tensor: None,
                }],
            }),
        }
    }

    #[test]
    fn reads_scalars_and_reports_corrupt_and_cut_records() {
        let mut bytes = record(&Event {
            wall_time: 99.0,
            ..Event::default()
        });
        bytes.extend(record(&event(2, "train/loss", 1.5)));
        let mut bad = record(&event(4, "train/loss", 1.0));
        let last = bad.len() - 5;
        bad[last] ^= 0xff;
        bytes.extend(bad);
        bytes.extend(record(&Event {
            wall_time: 110.0,
            step: 4,
            summary: Some(Summary {
                value: vec![Value {
                    tag: "eval/loss".into(),
                    simple_value: None,
                    tensor: Some(Tensor {
                        dtype: DT_FLOAT,
                        float_val: vec![0.5],
                        ..Tensor::default()
                    }),
                }],
            }),
        }));
        let cut = record(&event(6, "train/loss", 0.9));
        bytes.extend(&cut[..cut.len() - 3]);
        assert!(sniff(&bytes));
        let p = read(&bytes[..], "events.out.tfevents.1").expect("reads");
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records.to_vec()[0].metrics[0], ("loss".into(), 1.5));
        assert_eq!(p.records.to_vec()[0].row.time, Some(3.0));
        assert_eq!(p.records.to_vec()[1].metrics[0], ("eval_loss".into(), 0.5));
        assert_eq!(p.records.to_vec()[1].row.line, 4);
        assert!(
            p.warnings[0].contains("ends inside record 5"),
            "{:?}",
            p.warnings
        );
        assert!(
            p.warnings[1].contains("first: record 3"),
            "{:?}",
            p.warnings
        );
        assert!(!sniff(b"{'loss': 1.0}\n"));
    }
}
