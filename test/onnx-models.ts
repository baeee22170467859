/**
 * Tiny ONNX models built in the tests themselves (with onnx-proto, the protobuf schema that
 * ONNX files are written in), so that what a model computes is known exactly and every number
 * imgpipe reports can be checked against it.
 */
import { writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  ints?: Record<string, number[]>;
  int?: Record<string, number>;
}

export interface GraphSpec {
  input: { name: string; shape: (number | string)[] };
  outputs: { name: string; shape: (number | string)[] }[];
  nodes: NodeSpec[];
  floats?: Record<string, { dims: number[]; values: number[] }>;
  int64s?: Record<string, number[]>;
}

const valueInfo = (name: string, shape: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType: FLOAT, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/** Writes the model to `file` and returns its bytes. */
export function writeOnnxModel(file: string, spec: GraphSpec): Uint8Array {
  const node = spec.nodes.map((n, i) => ({
    name: `n${i}`,
    opType: n.op,
    input: n.inputs,
    output: n.outputs,
    attribute: [
      ...Object.entries(n.ints ?? {}).map(([name, ints]) => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints })),
      ...Object.entries(n.int ?? {}).map(([name, i]) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i })),
    ],
  }));
  const initializer = [
    ...Object.entries(spec.floats ?? {}).map(([name, t]) => ({ name, dims: t.dims, dataType: FLOAT, floatData: t.values })),
    ...Object.entries(spec.int64s ?? {}).map(([name, values]) => ({ name, dims: [values.length], dataType: INT64, int64Data: values })),
  ];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'imgpipe-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'test', node, initializer, input: [valueInfo(spec.input.name, spec.input.shape)], output: spec.outputs.map((o) => valueInfo(o.name, o.shape)) },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  writeFileSync(file, bytes);
  return bytes;
}
