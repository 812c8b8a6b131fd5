//! Reads a function's deployed configuration from the SAM template: memory, timeout,
//! environment (Globals merged with the function's own) and its IAM policy, with
//! `!Ref`, `!GetAtt` and `!Sub` resolved against real resources.
//!
//! yaml-rust2's loader drops CloudFormation's short-form tags (`!Ref X` becomes the
//! plain string `X`), so the template is read here through the parser's events, and
//! every tagged node becomes the long form (`{"Ref": "X"}`, `{"Fn::GetAtt": [..]}`, …).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Why a template could not be read or a function's configuration resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

fn err<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(message.into()))
}

/// The project's SAM template, `infra/template.yaml`.
pub fn project_template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml")
}

/// Builds JSON from parser events, keeping tags as intrinsic functions.
#[derive(Default)]
struct Builder {
    stack: Vec<(Frame, Option<String>)>,
    done: Vec<Value>,
}

enum Frame {
    Seq(Vec<Value>),
    Map(Map<String, Value>, Option<String>),
}

/// The long form of a short-form tag applied to `value`.
fn intrinsic(tag: Option<String>, value: Value) -> Value {
    let Some(tag) = tag else { return value };
    match tag.as_str() {
        "Ref" | "Condition" => json!({ tag: value }),
        "GetAtt" => match value {
            Value::String(s) => {
                let (resource, attribute) = s.split_once('.').unwrap_or((s.as_str(), ""));
                json!({ "Fn::GetAtt": [resource, attribute] })
            }
            other => json!({ "Fn::GetAtt": other }),
        },
        // !Sub, !If, !Not, !Equals, !Join, !Select, !Split, …
        name => json!({ format!("Fn::{name}"): value }),
    }
}

fn scalar(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        "null" | "Null" | "NULL" | "~" | "" => Value::Null,
        _ => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .unwrap_or(Value::String(text)),
    }
}

impl Builder {
    fn push(&mut self, value: Value) {
        match self.stack.last_mut() {
            Some((Frame::Seq(items), _)) => items.push(value),
            Some((Frame::Map(map, key), _)) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => *key = Some(value.as_str().map_or_else(|| value.to_string(), str::to_owned)),
            },
            None => self.done.push(value),
        }
    }
}

/// The local tag's name (`!Ref` → `Ref`); other tags are not CloudFormation's.
fn tag_name(tag: Option<yaml_rust2::parser::Tag>) -> Option<String> {
    tag.filter(|t| t.handle == "!").map(|t| t.suffix)
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        match event {
            Event::Scalar(text, style, _, tag) => {
                let tag = tag_name(tag);
                // A map key is never an intrinsic; keep it as text.
                let is_key = matches!(self.stack.last(), Some((Frame::Map(_, None), _)));
                let value = if tag.is_some() || is_key { Value::String(text) } else { scalar(text, style) };
                self.push(intrinsic(tag, value));
            }
            Event::SequenceStart(_, tag) => self.stack.push((Frame::Seq(Vec::new()), tag_name(tag))),
            Event::MappingStart(_, tag) => self.stack.push((Frame::Map(Map::new(), None), tag_name(tag))),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((frame, tag)) = self.stack.pop() {
                    let value = match frame {
                        Frame::Seq(items) => Value::Array(items),
                        Frame::Map(map, _) => Value::Object(map),
                    };
                    self.push(intrinsic(tag, value));
                }
            }
            _ => {}
        }
    }
}

/// A SAM/CloudFormation template as JSON with long-form intrinsic functions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(pub Value);

impl Template {
    /// Parses YAML text.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut builder = Builder::default();
        Parser::new_from_str(text).load(&mut builder, false).map_err(|e| TemplateError(format!("YAML: {e}")))?;
        match builder.done.pop() {
            Some(document) => Ok(Self(document)),
            None => err("the template is empty"),
        }
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError(format!("read {}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// The resource with this logical id.
    pub fn resource(&self, logical_id: &str) -> Result<&Value, TemplateError> {
        let resource = &self.0["Resources"][logical_id];
        if resource.is_null() {
            return err(format!("the template has no resource {logical_id}"));
        }
        Ok(resource)
    }

    /// A function's configuration as deployed, resolved with `resolver`.
    pub fn function(&self, logical_id: &str, resolver: &Resolver) -> Result<FunctionConfig, TemplateError> {
        let resource = self.resource(logical_id)?;
        if resource["Type"] != "AWS::Serverless::Function" {
            return err(format!("{logical_id} is not an AWS::Serverless::Function"));
        }
        let globals = &self.0["Globals"]["Function"];
        let properties = &resource["Properties"];
        let setting = |name: &str| {
            let own = &properties[name];
            if own.is_null() { &globals[name] } else { own }
        };
        let number = |name: &str, default: u64| -> Result<u64, TemplateError> {
            let value = setting(name);
            if value.is_null() {
                return Ok(default);
            }
            let resolved = resolver.resolve(value)?;
            resolved
                .as_u64()
                .or_else(|| resolved.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| TemplateError(format!("{logical_id}.{name} is not a number: {resolved}")))
        };
        // SAM's defaults: 128 MB and 3 s.
        let memory_mb = number("MemorySize", 128)?;
        let timeout = Duration::from_secs(number("Timeout", 3)?);

        let mut environment = Vec::new();
        for source in [&globals["Environment"]["Variables"], &properties["Environment"]["Variables"]] {
            for (name, value) in source.as_object().into_iter().flatten() {
                let value = match resolver.resolve(value)? {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                environment.retain(|(n, _): &(String, String)| n != name);
                environment.push((name.clone(), value));
            }
        }

        let function_name = match &properties["FunctionName"] {
            Value::Null => logical_id.to_owned(),
            name => resolver.resolve(name)?.as_str().unwrap_or(logical_id).to_owned(),
        };
        let policy = super::iam::policy_document(logical_id, &properties["Policies"], resolver)?;
        Ok(FunctionConfig {
            logical_id: logical_id.to_owned(),
            function_name,
            memory_mb: u32::try_from(memory_mb).unwrap_or(u32::MAX),
            timeout,
            environment,
            policy,
        })
    }

    /// The template's parameters with their defaults (`None` when there is none).
    pub fn parameter_defaults(&self) -> HashMap<String, Option<String>> {
        self.0["Parameters"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, p)| {
                let default = match &p["Default"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (name.clone(), default)
            })
            .collect()
    }
}

/// A function's configuration as the template deploys it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    /// The logical id, e.g. `UsersFunction`.
    pub logical_id: String,
    /// `FunctionName`, resolved (e.g. `textbridge-dev-users`).
    pub function_name: String,
    /// `MemorySize`.
    pub memory_mb: u32,
    /// `Timeout`: the function timeout.
    pub timeout: Duration,
    /// Environment variables: Globals, then the function's own.
    pub environment: Vec<(String, String)>,
    /// The IAM policy document its `Policies` grant.
    pub policy: Value,
}

/// What `!Ref`, `!GetAtt` and `!Sub` resolve to: parameters, pseudo parameters and
/// the physical ids and attributes of resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    refs: HashMap<String, String>,
    attributes: HashMap<(String, String), String>,
}

impl Resolver {
    /// Pseudo parameters for `region` and `account_id` (partition `aws`), plus the
    /// template's parameter defaults.
    pub fn new(template: &Template, region: &str, account_id: &str) -> Self {
        let mut refs: HashMap<String, String> =
            template.parameter_defaults().into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        refs.insert("AWS::Region".into(), region.into());
        refs.insert("AWS::AccountId".into(), account_id.into());
        refs.insert("AWS::Partition".into(), "aws".into());
        refs.insert("AWS::URLSuffix".into(), "amazonaws.com".into());
        Self { refs, attributes: HashMap::new() }
    }

    /// What `!Ref name` gives: a parameter's value or a resource's physical id.
    pub fn with_ref(mut self, name: &str, value: &str) -> Self {
        self.refs.insert(name.into(), value.into());
        self
    }

    /// What `!GetAtt resource.attribute` gives.
    pub fn with_attribute(mut self, resource: &str, attribute: &str, value: &str) -> Self {
        self.attributes.insert((resource.into(), attribute.into()), value.into());
        self
    }

    fn lookup(&self, name: &str) -> Result<String, TemplateError> {
        if let Some((resource, attribute)) = name.split_once('.') {
            return self.attribute(resource, attribute);
        }
        self.refs.get(name).cloned().ok_or_else(|| TemplateError(format!("nothing given for !Ref {name}")))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, TemplateError> {
        self.attributes
            .get(&(resource.to_owned(), attribute.to_owned()))
            .cloned()
            .ok_or_else(|| TemplateError(format!("nothing given for !GetAtt {resource}.{attribute}")))
    }

    /// `Fn::Sub` of `text` with the extra variables `vars`.
    fn substitute(&self, text: &str, vars: &Map<String, Value>) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${"); // `${!Literal}` is the text `${Literal}`
                rest = literal;
                continue;
            }
            let Some(end) = after.find('}') else { return err(format!("unclosed ${{ in {text:?}")) };
            let name = &after[..end];
            match vars.get(name) {
                Some(value) => match self.resolve(value)? {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                },
                None => out.push_str(&self.lookup(name)?),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves every `Ref`, `Fn::GetAtt` and `Fn::Sub` in `value`.
    pub fn resolve(&self, value: &Value) -> Result<Value, TemplateError> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let Some((key, argument)) = map.iter().next() else { unreachable!("one entry") };
                match key.as_str() {
                    "Ref" => Ok(Value::String(self.lookup(argument.as_str().unwrap_or_default())?)),
                    "Fn::GetAtt" => {
                        let parts: Vec<&str> = match argument {
                            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                            Value::String(s) => s.splitn(2, '.').collect(),
                            _ => Vec::new(),
                        };
                        match parts.as_slice() {
                            [resource, attribute] => Ok(Value::String(self.attribute(resource, attribute)?)),
                            _ => err(format!("unreadable Fn::GetAtt {argument}")),
                        }
                    }
                    "Fn::Sub" => match argument {
                        Value::String(text) => Ok(Value::String(self.substitute(text, &Map::new())?)),
                        Value::Array(parts) => match (parts.first().and_then(Value::as_str), parts.get(1)) {
                            (Some(text), Some(Value::Object(vars))) => Ok(Value::String(self.substitute(text, vars)?)),
                            _ => err(format!("unreadable Fn::Sub {argument}")),
                        },
                        _ => err(format!("unreadable Fn::Sub {argument}")),
                    },
                    _ => {
                        Ok(Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), self.resolve(v)?))).collect::<Result<
                            _,
                            TemplateError,
                        >>(
                        )?))
                    }
                }
            }
            Value::Object(map) => Ok(Value::Object(
                map.iter().map(|(k, v)| Ok((k.clone(), self.resolve(v)?))).collect::<Result<_, TemplateError>>()?,
            )),
            Value::Array(items) => Ok(Value::Array(items.iter().map(|v| self.resolve(v)).collect::<Result<_, _>>()?)),
            other => Ok(other.clone()),
        }
    }
}
