//! The template's storage resources created on moto under one stage's names, and the
//! [`Resolver`] that maps the template's references onto them.

use textbridge_aws::aws_config::SdkConfig;
use textbridge_aws::aws_sdk_sqs::types::QueueAttributeName;
use textbridge_aws::{AwsConfig, aws_sdk_dynamodb, aws_sdk_sqs, schema};

use super::function::ACCOUNT_ID;
use super::template::{Resolver, Template};

/// The `PublicBaseUrl` parameter of test stages.
pub const PUBLIC_BASE_URL: &str = "https://textbridge.test";
/// The `JwtIssuer` parameter of test stages (the `iss` of [`super::events::claims`]).
pub const JWT_ISSUER: &str = "https://issuer.example.com/";
/// The `JwtAudience` parameter of test stages (the `aud` of [`super::events::claims`]).
pub const JWT_AUDIENCE: &str = "textbridge-api";

/// The table, queue pair and imports bucket of one stage, named as
/// `infra/template.yaml` names them (`textbridge-{stage}`, `textbridge-{stage}-intake`,
/// `textbridge-{stage}-intake-dlq`; the bucket `textbridge-{stage}-imports`) and
/// shaped by [`textbridge_aws::schema`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The `Stage` parameter.
    pub stage: String,
    /// The region everything lives in.
    pub region: String,
    /// `!Ref Table`.
    pub table_name: String,
    /// `!GetAtt Table.Arn`.
    pub table_arn: String,
    /// `!GetAtt IntakeQueue.QueueName`.
    pub intake_queue_name: String,
    /// `!Ref IntakeQueue`.
    pub intake_queue_url: String,
    /// `!GetAtt IntakeQueue.Arn`.
    pub intake_queue_arn: String,
    /// `!GetAtt IntakeDlq.QueueName`.
    pub intake_dlq_name: String,
    /// `!Ref IntakeDlq`.
    pub intake_dlq_url: String,
    /// `!GetAtt IntakeDlq.Arn`.
    pub intake_dlq_arn: String,
    /// `!Ref ImportsBucket`.
    pub imports_bucket: String,
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("GetQueueAttributes {url}: {e:?}"))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| format!("GetQueueAttributes {url}: no ARN"))
}

impl Deployment {
    /// The resources `stage` would have in `us-east-1`, created nowhere: for reading
    /// the template's configuration of a function. Its queue URLs point at a closed
    /// loopback port, so a call to them fails at once.
    pub fn made_up(stage: &str) -> Self {
        let (region, account) = ("us-east-1", ACCOUNT_ID);
        let queue = |name: &str| {
            (
                name.to_owned(),
                format!("http://127.0.0.1:9/{account}/{name}"),
                format!("arn:aws:sqs:{region}:{account}:{name}"),
            )
        };
        let (intake_queue_name, intake_queue_url, intake_queue_arn) = queue(&format!("textbridge-{stage}-intake"));
        let (intake_dlq_name, intake_dlq_url, intake_dlq_arn) = queue(&format!("textbridge-{stage}-intake-dlq"));
        Self {
            stage: stage.to_owned(),
            region: region.to_owned(),
            table_name: format!("textbridge-{stage}"),
            table_arn: format!("arn:aws:dynamodb:{region}:{account}:table/textbridge-{stage}"),
            intake_queue_name,
            intake_queue_url,
            intake_queue_arn,
            intake_dlq_name,
            intake_dlq_url,
            intake_dlq_arn,
            imports_bucket: format!("textbridge-{stage}-imports"),
        }
    }

    /// Creates the resources of `stage` with the credentials in `sdk`.
    pub async fn create(sdk: &SdkConfig, stage: &str) -> Result<Self, String> {
        let region = sdk.region().map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let table_name = format!("textbridge-{stage}");
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        schema::create_table(&dynamodb, &table_name).await.map_err(|e| format!("create table {table_name}: {e}"))?;
        let table_arn = dynamodb
            .describe_table()
            .table_name(&table_name)
            .send()
            .await
            .map_err(|e| format!("DescribeTable {table_name}: {e:?}"))?
            .table
            .and_then(|t| t.table_arn)
            .unwrap_or_else(|| format!("arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table_name}"));
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let intake_queue_name = format!("textbridge-{stage}-intake");
        let (intake_queue_url, intake_dlq_url) =
            schema::create_queues(&sqs, &intake_queue_name).await.map_err(|e| format!("create queues: {e}"))?;
        let imports_bucket = format!("textbridge-{stage}-imports");
        textbridge_aws::S3::new(sdk)
            .create_bucket(&imports_bucket)
            .await
            .map_err(|e| format!("CreateBucket {imports_bucket}: {e}"))?;
        Ok(Self {
            stage: stage.to_owned(),
            imports_bucket,
            table_arn,
            intake_queue_arn: queue_arn(&sqs, &intake_queue_url).await?,
            intake_dlq_arn: queue_arn(&sqs, &intake_dlq_url).await?,
            intake_dlq_name: format!("{intake_queue_name}{}", schema::DLQ_SUFFIX),
            region,
            table_name,
            intake_queue_name,
            intake_queue_url,
            intake_dlq_url,
        })
    }

    /// Where this stage's functions keep their state, as their environment names it
    /// (the secrets under `textbridge/{stage}/`): for seeding and checks.
    pub fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            table_name: self.table_name.clone(),
            intake_queue_url: self.intake_queue_url.clone(),
            intake_dlq_url: self.intake_dlq_url.clone(),
            secrets_prefix: format!("textbridge/{}/", self.stage),
        }
    }

    /// [`Self::resolver`] with the parameters every test stage is deployed with:
    /// [`PUBLIC_BASE_URL`], [`JWT_ISSUER`] and [`JWT_AUDIENCE`].
    pub fn test_resolver(&self, template: &Template) -> Resolver {
        self.resolver(template)
            .with_ref("PublicBaseUrl", PUBLIC_BASE_URL)
            .with_ref("JwtIssuer", JWT_ISSUER)
            .with_ref("JwtAudience", JWT_AUDIENCE)
    }

    /// A resolver for `template` that knows this deployment's resources and the
    /// `Stage` parameter; add the parameters without defaults with
    /// [`Resolver::with_ref`].
    pub fn resolver(&self, template: &Template) -> Resolver {
        Resolver::new(template, &self.region, ACCOUNT_ID)
            .with_ref("Stage", &self.stage)
            .with_ref("Table", &self.table_name)
            .with_attribute("Table", "Arn", &self.table_arn)
            .with_ref("IntakeQueue", &self.intake_queue_url)
            .with_attribute("IntakeQueue", "Arn", &self.intake_queue_arn)
            .with_attribute("IntakeQueue", "QueueName", &self.intake_queue_name)
            .with_ref("IntakeDlq", &self.intake_dlq_url)
            .with_attribute("IntakeDlq", "Arn", &self.intake_dlq_arn)
            .with_attribute("IntakeDlq", "QueueName", &self.intake_dlq_name)
            .with_ref("ImportsBucket", &self.imports_bucket)
            .with_attribute("ImportsBucket", "Arn", &format!("arn:aws:s3:::{}", self.imports_bucket))
    }
}
