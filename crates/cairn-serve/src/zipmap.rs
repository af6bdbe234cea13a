//! Unzipping ZipMap outputs at load time.
//!
//! skl2onnx ends a classifier's probability output in an `ai.onnx.ml` `ZipMap` node: a sequence of
//! one `{class: probability}` map per row. Reading those maps back through ONNX Runtime's C API
//! takes several calls and allocations per row, which made a 64-row logistic regression spend more
//! time unpacking maps than predicting (2.4x fewer requests/s than the same model without ZipMap).
//!
//! So before the session is built, [`unzip`] rewrites the model: each ZipMap whose output is a graph
//! output becomes an `Identity` of its input (the `[rows, classes]` float tensor that fed it), the
//! graph output is retyped to that tensor, and the class labels are read from the node's
//! `classlabels_int64s` / `classlabels_strings` attribute. Callers rebuild the same per-class
//! probabilities from the tensor, so responses do not change.
//!
//! The rewrite works on the protobuf wire format with `prost`'s encoding primitives and copies
//! every field it does not change byte for byte (initializers, metadata, fields added by newer
//! ONNX versions). A model it does not understand is left as it is.

use prost::bytes::Buf;
use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};

// Field numbers from onnx.proto.
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const GRAPH_OUTPUT: u32 = 12;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_NAME: u32 = 3;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const NODE_DOMAIN: u32 = 7;
const ATTRIBUTE_NAME: u32 = 1;
const ATTRIBUTE_INTS: u32 = 8;
const ATTRIBUTE_STRINGS: u32 = 9;
const VALUE_INFO_NAME: u32 = 1;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TENSOR_ELEM_TYPE: u32 = 1;
const ELEM_FLOAT: u64 = 1;

/// A graph output that was a ZipMap and is now a `[rows, classes]` float tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Unzipped {
    /// The graph output's name (unchanged).
    pub output: String,
    /// The class of each tensor column, in column order.
    pub classes: Vec<String>,
    /// Whether the labels are integers (`classlabels_int64s`) rather than strings.
    pub numeric: bool,
}

/// `model` with its terminal ZipMaps unzipped, and what was unzipped; `None` when the model has no
/// ZipMap to unzip or is not one this rewrite understands.
pub fn unzip(model: &[u8]) -> Option<(Vec<u8>, Vec<Unzipped>)> {
    let fields = fields(model)?;
    let graph = fields.iter().find(|field| field.number == MODEL_GRAPH)?;
    let (graph_bytes, unzipped) = unzip_graph(graph.payload?)?;
    let mut out = Vec::with_capacity(model.len() + 64);
    for field in &fields {
        if field.number == MODEL_GRAPH {
            put_bytes(&mut out, MODEL_GRAPH, &graph_bytes);
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    Some((out, unzipped))
}

fn unzip_graph(graph: &[u8]) -> Option<(Vec<u8>, Vec<Unzipped>)> {
    let fields = fields(graph)?;
    let outputs: Vec<String> = fields
        .iter()
        .filter(|field| field.number == GRAPH_OUTPUT)
        .filter_map(|field| first_string(field.payload?, VALUE_INFO_NAME))
        .collect();
    let nodes: Vec<Option<Node>> = fields
        .iter()
        .map(|field| {
            (field.number == GRAPH_NODE)
                .then(|| field.payload.and_then(Node::read))
                .flatten()
        })
        .collect();
    let consumed = |name: &str| {
        nodes
            .iter()
            .flatten()
            .any(|node| node.inputs.iter().any(|input| input == name))
    };
    // The ZipMaps to unzip, by field index.
    let mut unzipped = Vec::new();
    let mut replaced: Vec<Option<Vec<u8>>> = vec![None; fields.len()];
    for (index, node) in nodes.iter().enumerate() {
        let Some(node) = node else { continue };
        let Some((classes, numeric)) = node.zipmap_classes() else {
            continue;
        };
        let ([input], [output]) = (node.inputs.as_slice(), node.outputs.as_slice()) else {
            continue;
        };
        if classes.is_empty() || !outputs.contains(output) || consumed(output) {
            continue;
        }
        replaced[index] = Some(identity_node(&node.name, input, output));
        unzipped.push(Unzipped {
            output: output.clone(),
            classes,
            numeric,
        });
    }
    if unzipped.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(graph.len() + 64);
    for (field, replacement) in fields.iter().zip(&replaced) {
        let retyped = (field.number == GRAPH_OUTPUT)
            .then(|| {
                field
                    .payload
                    .and_then(|info| first_string(info, VALUE_INFO_NAME))
            })
            .flatten()
            .filter(|name| unzipped.iter().any(|done| done.output == *name));
        match (replacement, retyped) {
            (Some(node), _) => put_bytes(&mut out, GRAPH_NODE, node),
            (None, Some(name)) => put_bytes(&mut out, GRAPH_OUTPUT, &float_tensor_info(&name)),
            (None, None) => out.extend_from_slice(field.raw),
        }
    }
    Some((out, unzipped))
}

/// The parts of a NodeProto this rewrite reads.
struct Node {
    name: String,
    op_type: String,
    domain: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// (name, AttributeProto bytes)
    attributes: Vec<(String, Vec<u8>)>,
}

impl Node {
    fn read(bytes: &[u8]) -> Option<Node> {
        let mut node = Node {
            name: String::new(),
            op_type: String::new(),
            domain: String::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            attributes: Vec::new(),
        };
        for field in fields(bytes)? {
            let Some(payload) = field.payload else {
                continue;
            };
            match field.number {
                NODE_INPUT => node.inputs.push(text(payload)?),
                NODE_OUTPUT => node.outputs.push(text(payload)?),
                NODE_NAME => node.name = text(payload)?,
                NODE_OP_TYPE => node.op_type = text(payload)?,
                NODE_DOMAIN => node.domain = text(payload)?,
                NODE_ATTRIBUTE => node.attributes.push((
                    first_string(payload, ATTRIBUTE_NAME).unwrap_or_default(),
                    payload.to_vec(),
                )),
                _ => {}
            }
        }
        Some(node)
    }

    /// The class labels when this node is a ZipMap, and whether they are integers.
    fn zipmap_classes(&self) -> Option<(Vec<String>, bool)> {
        if self.op_type != "ZipMap" || self.domain != "ai.onnx.ml" {
            return None;
        }
        let (name, attribute) = self
            .attributes
            .iter()
            .find(|(name, _)| name == "classlabels_int64s" || name == "classlabels_strings")?;
        let mut classes = Vec::new();
        for field in fields(attribute)? {
            match (name.as_str(), field.number) {
                ("classlabels_int64s", ATTRIBUTE_INTS) => match field.payload {
                    // Packed (proto3 writers) or one varint per element (onnx.proto is proto2).
                    Some(mut packed) => {
                        while packed.has_remaining() {
                            classes.push(int64(decode_varint(&mut packed).ok()?).to_string());
                        }
                    }
                    None => classes.push(int64(field.varint?).to_string()),
                },
                ("classlabels_strings", ATTRIBUTE_STRINGS) => classes.push(text(field.payload?)?),
                _ => {}
            }
        }
        Some((classes, name == "classlabels_int64s"))
    }
}

/// Protobuf's int64 is the varint's bits as two's complement.
fn int64(varint: u64) -> i64 {
    i64::from_ne_bytes(varint.to_ne_bytes())
}

fn identity_node(name: &str, input: &str, output: &str) -> Vec<u8> {
    let mut node = Vec::new();
    put_bytes(&mut node, NODE_INPUT, input.as_bytes());
    put_bytes(&mut node, NODE_OUTPUT, output.as_bytes());
    if !name.is_empty() {
        put_bytes(&mut node, NODE_NAME, name.as_bytes());
    }
    put_bytes(&mut node, NODE_OP_TYPE, b"Identity");
    node
}

/// A ValueInfoProto `name: tensor(float)` with no shape.
fn float_tensor_info(name: &str) -> Vec<u8> {
    let mut tensor = Vec::new();
    encode_key(TENSOR_ELEM_TYPE, WireType::Varint, &mut tensor);
    encode_varint(ELEM_FLOAT, &mut tensor);
    let mut type_proto = Vec::new();
    put_bytes(&mut type_proto, TYPE_TENSOR, &tensor);
    let mut info = Vec::new();
    put_bytes(&mut info, VALUE_INFO_NAME, name.as_bytes());
    put_bytes(&mut info, VALUE_INFO_TYPE, &type_proto);
    info
}

fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn text(bytes: &[u8]) -> Option<String> {
    String::from_utf8(bytes.to_vec()).ok()
}

fn first_string(message: &[u8], number: u32) -> Option<String> {
    fields(message)?
        .into_iter()
        .find(|field| field.number == number)
        .and_then(|field| text(field.payload?))
}

/// One field of a message as it appears on the wire.
struct Field<'a> {
    number: u32,
    /// The whole field: key and value.
    raw: &'a [u8],
    /// A length-delimited field's bytes.
    payload: Option<&'a [u8]>,
    /// A varint field's value.
    varint: Option<u64>,
}

/// The top-level fields of a message, or `None` when the bytes are not a well-formed message.
fn fields(message: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut fields = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let start = rest;
        let (number, wire_type) = decode_key(&mut rest).ok()?;
        let (mut payload, mut varint) = (None, None);
        match wire_type {
            WireType::Varint => varint = Some(decode_varint(&mut rest).ok()?),
            WireType::LengthDelimited => {
                let length = usize::try_from(decode_varint(&mut rest).ok()?).ok()?;
                if length > rest.len() {
                    return None;
                }
                let (bytes, tail) = rest.split_at(length);
                payload = Some(bytes);
                rest = tail;
            }
            WireType::SixtyFourBit => rest = rest.get(8..)?,
            WireType::ThirtyTwoBit => rest = rest.get(4..)?,
            WireType::StartGroup | WireType::EndGroup => return None,
        }
        fields.push(Field {
            number,
            raw: &start[..start.len() - rest.len()],
            payload,
            varint,
        });
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zipmap_node(classes: &[i64], packed: bool) -> Vec<u8> {
        let mut attribute = Vec::new();
        put_bytes(&mut attribute, ATTRIBUTE_NAME, b"classlabels_int64s");
        if packed {
            let mut ints = Vec::new();
            for class in classes {
                encode_varint(u64::from_ne_bytes(class.to_ne_bytes()), &mut ints);
            }
            put_bytes(&mut attribute, ATTRIBUTE_INTS, &ints);
        } else {
            for class in classes {
                encode_key(ATTRIBUTE_INTS, WireType::Varint, &mut attribute);
                encode_varint(u64::from_ne_bytes(class.to_ne_bytes()), &mut attribute);
            }
        }
        let mut node = Vec::new();
        put_bytes(&mut node, NODE_INPUT, b"probabilities");
        put_bytes(&mut node, NODE_OUTPUT, b"output_probability");
        put_bytes(&mut node, NODE_NAME, b"ZipMap");
        put_bytes(&mut node, NODE_OP_TYPE, b"ZipMap");
        put_bytes(&mut node, NODE_ATTRIBUTE, &attribute);
        put_bytes(&mut node, NODE_DOMAIN, b"ai.onnx.ml");
        node
    }

    fn model(node: &[u8], consumer: bool) -> Vec<u8> {
        let mut output = Vec::new();
        put_bytes(&mut output, VALUE_INFO_NAME, b"output_probability");
        put_bytes(&mut output, VALUE_INFO_TYPE, b"\x22\x00"); // a sequence type, content unread
        let mut graph = Vec::new();
        put_bytes(&mut graph, GRAPH_NODE, node);
        if consumer {
            let mut other = Vec::new();
            put_bytes(&mut other, NODE_INPUT, b"output_probability");
            put_bytes(&mut other, NODE_OP_TYPE, b"Identity");
            put_bytes(&mut graph, GRAPH_NODE, &other);
        }
        put_bytes(&mut graph, 5, b"an initializer, copied as it is");
        put_bytes(&mut graph, GRAPH_OUTPUT, &output);
        let mut model = Vec::new();
        encode_key(1, WireType::Varint, &mut model); // ir_version
        encode_varint(8, &mut model);
        put_bytes(&mut model, MODEL_GRAPH, &graph);
        put_bytes(&mut model, 14, b"metadata after the graph");
        model
    }

    #[test]
    fn a_terminal_zipmap_becomes_identity_with_its_classes() {
        for packed in [true, false] {
            let (rewritten, unzipped) =
                unzip(&model(&zipmap_node(&[0, 1, -7], packed), false)).expect("a ZipMap to unzip");
            assert_eq!(
                unzipped,
                vec![Unzipped {
                    output: "output_probability".into(),
                    classes: vec!["0".into(), "1".into(), "-7".into()],
                    numeric: true,
                }]
            );
            let top = fields(&rewritten).expect("well formed");
            assert_eq!(
                top.iter().map(|field| field.number).collect::<Vec<_>>(),
                [1, MODEL_GRAPH, 14]
            );
            let graph = fields(top[1].payload.expect("graph")).expect("well formed");
            let node = Node::read(graph[0].payload.expect("node")).expect("a node");
            assert_eq!(
                (
                    node.op_type.as_str(),
                    node.inputs,
                    node.outputs,
                    node.domain.as_str()
                ),
                (
                    "Identity",
                    vec!["probabilities".to_string()],
                    vec!["output_probability".to_string()],
                    ""
                )
            );
            assert_eq!(
                graph[1].payload,
                Some(b"an initializer, copied as it is".as_slice())
            );
            assert_eq!(
                graph[2].payload,
                Some(float_tensor_info("output_probability").as_slice())
            );
        }
    }

    #[test]
    fn models_it_cannot_rewrite_are_left_alone() {
        // The ZipMap's output feeds another node.
        assert_eq!(unzip(&model(&zipmap_node(&[0, 1], true), true)), None);
        // No classes.
        assert_eq!(unzip(&model(&zipmap_node(&[], true), false)), None);
        // Truncated or garbage bytes.
        let whole = model(&zipmap_node(&[0, 1], true), false);
        assert_eq!(unzip(&whole[..whole.len() - 3]), None);
        assert_eq!(unzip(b"\xff\xff\xff"), None);
        assert_eq!(unzip(b""), None);
    }
}
