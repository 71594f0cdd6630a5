//! A BERT encoder classifier, generic over the burn backend: embeddings with LayerNorm, post-norm
//! encoder layers (masked self-attention, GELU feed-forward), pooler, dropout, classifier head.
//! It computes exactly what Hugging Face's `BertForSequenceClassification` computes.

use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig,
};
use burn::tensor::activation::tanh;

use super::attention::{attention, KeyMask};
use super::dense::{affine, linear};
use super::exact::{gelu, softmax, Norm};
use super::fused::dropout;
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};

use super::config::BertConfig;
use crate::text::BatchInput;

#[derive(Module, Debug)]
pub struct Embeddings<B: Backend> {
    pub word: Embedding<B>,
    pub position: Embedding<B>,
    pub token_type: Embedding<B>,
    pub norm: Norm<B>,
    pub dropout: Dropout,
}

#[derive(Module, Debug)]
pub struct Layer<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub attn_out: Linear<B>,
    pub attn_norm: Norm<B>,
    pub intermediate: Linear<B>,
    pub output: Linear<B>,
    pub out_norm: Norm<B>,
    pub dropout: Dropout,
    pub attn_dropout: Dropout,
    pub heads: usize,
}

#[derive(Module, Debug)]
pub struct BertClassifier<B: Backend> {
    pub embeddings: Embeddings<B>,
    pub layers: Vec<Layer<B>>,
    pub pooler: Linear<B>,
    pub dropout: Dropout,
    pub classifier: Linear<B>,
}

/// Everything one forward pass yields.
pub struct Forward<B: Backend> {
    /// [batch, seq, hidden]. Padding's rows are meaningless: computed (attending to the real
    /// tokens) on most backends, zero on the CPU training backend, which skips them.
    pub hidden: Tensor<B, 3>,
    /// [batch, labels]
    pub logits: Tensor<B, 2>,
}

impl<B: Backend> BertClassifier<B> {
    /// A model with this architecture and `num_labels` outputs, all weights zero (LayerNorm
    /// scales one); `hf::load` or `hf::init_random` fill them. Zeros on purpose: burn's random
    /// initialisers draw from the backend's process-wide generator, which would perturb the
    /// dropout masks of a model training concurrently in the same process.
    pub fn new(cfg: &BertConfig, num_labels: usize, device: &B::Device) -> Self {
        let h = cfg.hidden_size;
        let linear = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let embedding = |n: usize| {
            EmbeddingConfig::new(n, h)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let norm = || Norm::new(h, cfg.layer_norm_eps, device);
        let hidden_dropout = || DropoutConfig::new(cfg.hidden_dropout_prob).init();
        let layers = (0..cfg.num_hidden_layers)
            .map(|_| Layer {
                query: linear(h, h),
                key: linear(h, h),
                value: linear(h, h),
                attn_out: linear(h, h),
                attn_norm: norm(),
                intermediate: linear(h, cfg.intermediate_size),
                output: linear(cfg.intermediate_size, h),
                out_norm: norm(),
                dropout: hidden_dropout(),
                attn_dropout: DropoutConfig::new(cfg.attention_probs_dropout_prob).init(),
                heads: cfg.num_attention_heads,
            })
            .collect();
        BertClassifier {
            embeddings: Embeddings {
                word: embedding(cfg.vocab_size),
                position: embedding(cfg.max_position_embeddings),
                token_type: embedding(cfg.type_vocab_size),
                norm: norm(),
                dropout: hidden_dropout(),
            },
            layers,
            pooler: linear(h, h),
            dropout: hidden_dropout(),
            classifier: linear(h, num_labels),
        }
    }

    /// Use this dropout probability everywhere (the manifest's `dropout` overrides config.json).
    pub fn set_dropout(&mut self, p: f64) {
        let d = || DropoutConfig::new(p).init();
        self.embeddings.dropout = d();
        self.dropout = d();
        for l in &mut self.layers {
            l.dropout = d();
            l.attn_dropout = d();
        }
    }

    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }

    pub fn forward(&self, input: &BatchInput<B>) -> Forward<B> {
        let x = self.encode(input);
        let [batch, _, hidden] = x.dims();
        let cls = x.clone().slice([0..batch, 0..1]).reshape([batch, hidden]);
        let pooled = tanh(self.pooler.forward(cls));
        let logits = self.classifier.forward(dropout(&self.dropout, pooled));
        Forward { hidden: x, logits }
    }

    /// The final hidden states [batch, seq, hidden], without pooler and head (pretraining
    /// reads the masked positions; a head computed and thrown away would only cost time).
    pub fn encode(&self, input: &BatchInput<B>) -> Tensor<B, 3> {
        let [batch, seq] = input.input_ids.dims();
        let device = input.input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device)
            .unsqueeze::<2>()
            .repeat_dim(0, batch);
        let e = &self.embeddings;
        let x = e.word.forward(input.input_ids.clone())
            + e.position.forward(positions)
            + e.token_type.forward(input.token_type_ids.clone());
        let x = dropout(&e.dropout, e.norm.forward(x));
        // Additive mask [batch, 1, 1, seq]: 0 on tokens, a large negative on padding. -1e4
        // (BERT's original value) rather than -1e9: in f16, -1e9 rounds to -inf and the product
        // 0 x -inf on every real token is NaN. In f32 the padded probabilities are exactly 0
        // either way (exp underflows below -104), so results are bit-identical.
        let masks = match KeyMask::on_cpu(&input.attention_mask) {
            Some(keys) => Masks::Fused(keys),
            None => Masks::Composed(
                input
                    .attention_mask
                    .clone()
                    .bool_not()
                    .float()
                    .mul_scalar(-1.0e4)
                    .reshape([batch, 1, 1, seq]),
            ),
        };
        let hidden = x.dims()[2];
        let mut rows = x.reshape([batch * seq, hidden]);
        // On the CPU training backend with right padding, the layers see only the real tokens
        // (`attention::KeyMask`); the padded positions of the result are zero.
        let packed = match &masks {
            Masks::Fused(keys) => keys.packed_rows(),
            Masks::Composed(_) => None,
        }
        .map(|at| {
            let n = at.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(at, [n]), &device)
        });
        if let Some(at) = &packed {
            rows = rows.select(0, at.clone());
        }
        for layer in &self.layers {
            rows = layer.forward(rows, batch, &masks);
        }
        if let Some(at) = packed {
            rows = Tensor::zeros([batch * seq, hidden], &device).select_assign(
                0,
                at,
                rows,
                IndexingUpdateOp::Add,
            );
        }
        rows.reshape([batch, seq, hidden])
    }
}

/// The attention mask in the form the layers' attention takes: on the CPU training backend
/// what the fused attention reads, elsewhere the additive mask of the composed one.
enum Masks<B: Backend> {
    Fused(KeyMask),
    Composed(Tensor<B, 4>),
}

impl<B: Backend> Layer<B> {
    /// One post-norm encoder layer on the `[batch x seq, hidden]` hidden states.
    fn forward(&self, x: Tensor<B, 2>, batch: usize, masks: &Masks<B>) -> Tensor<B, 2> {
        let context = match masks {
            Masks::Fused(keys) => self.attention_fused(x.clone(), keys),
            Masks::Composed(additive) => {
                self.attention_composed(x.clone(), batch, additive.clone())
            }
        };
        let attn = self
            .attn_norm
            .forward(dropout(&self.dropout, linear(&self.attn_out, context)) + x);
        let inner = gelu(linear(&self.intermediate, attn.clone()));
        self.out_norm
            .forward(dropout(&self.dropout, linear(&self.output, inner)) + attn)
    }

    /// Attention as one fused operation (`attention`), from one product for Q, K and V.
    fn attention_fused(&self, x: Tensor<B, 2>, keys: &KeyMask) -> Tensor<B, 2> {
        let bias = |l: &Linear<B>| match &l.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([l.weight.dims()[1]], &l.weight.device()),
        };
        let w = Tensor::cat(
            vec![
                self.query.weight.val(),
                self.key.weight.val(),
                self.value.weight.val(),
            ],
            1,
        );
        let b = Tensor::cat(
            vec![bias(&self.query), bias(&self.key), bias(&self.value)],
            0,
        );
        let p = match B::ad_enabled() {
            true => self.attn_dropout.prob,
            false => 0.0,
        };
        attention(affine(x, w, b), keys, self.heads, p)
    }

    /// Attention composed from burn's tensor operations: the other backends, and the reference
    /// the fused form's gradient is tested against.
    fn attention_composed(
        &self,
        x: Tensor<B, 2>,
        batch: usize,
        mask: Tensor<B, 4>,
    ) -> Tensor<B, 2> {
        let [rows, hidden] = x.dims();
        let seq = rows / batch.max(1);
        let head_dim = hidden / self.heads;
        let split = |t: Tensor<B, 2>| {
            t.reshape([batch, seq, self.heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = split(linear(&self.query, x.clone()));
        let k = split(linear(&self.key, x.clone()));
        let v = split(linear(&self.value, x));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((head_dim as f64).sqrt())
            + mask;
        let probs = dropout(&self.attn_dropout, softmax(scores));
        probs.matmul(v).swap_dims(1, 2).reshape([rows, hidden])
    }
}
